package node

import (
	"context"
	"encoding/base64"
	"unicode/utf8"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func (n *Node) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	attrs, err := validate.CreateQueue(req)
	if err != nil {
		return nil, err
	}
	partitions, err := validate.Partitions(req)
	if err != nil {
		return nil, err
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
		Name: req.GetName(), Attributes: attrs, Partitions: partitions,
	}}})
	if err != nil {
		return nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, err
	}
	// The metadata shard answers a create of an existing queue with equal
	// attributes with that queue, whatever its partition count: a create
	// is idempotent only when that matches too.
	if got := len(res.GetQueue().GetPartitions()); got != int(partitions) {
		return nil, core.Errorf(core.AlreadyExists, "queue %q already exists with %d partitions, not %d",
			req.GetName(), got, partitions)
	}
	return &wharfv1.CreateQueueResponse{Queue: apiQueue(res.GetQueue(), counts{})}, nil
}

func (n *Node) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	rec, err := n.queue(ctx, "queue", req.GetQueue())
	if err != nil {
		return nil, err
	}
	c, err := n.queueCounts(ctx, rec)
	if err != nil {
		return nil, err
	}
	return &wharfv1.GetQueueResponse{Queue: apiQueue(rec, c)}, nil
}

func (n *Node) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	prefix, limit, err := validate.ListQueues(req)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(req.GetNextToken())
	if err != nil {
		return nil, err
	}
	page, err := n.listQueues(ctx, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	resp := &wharfv1.ListQueuesResponse{Queues: page.Names}
	if page.More && len(page.Names) > 0 {
		resp.NextToken = encodePageToken(page.Names[len(page.Names)-1])
	}
	return resp, nil
}

// A page token is the last name of the previous page, opaque to clients so
// that its form can change.
func encodePageToken(lastName string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastName))
}

func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	// Generous: a name in base64, well under this.
	const maxTokenLen = 4 * core.MaxQueueNameLength
	if len(tok) > maxTokenLen {
		return "", core.FieldError("next_token", "is not a token this server issued")
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || len(b) > core.MaxQueueNameLength || !utf8.Valid(b) {
		return "", core.FieldError("next_token", "is not a token this server issued")
	}
	return string(b), nil
}

// maxUpdateAttempts bounds the read-merge-propose rounds of one UpdateQueue.
// Each lost round means another update of the queue committed meanwhile, so
// this many only run out under that many concurrent updates.
const maxUpdateAttempts = 5

func (n *Node) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	var lost error
	for attempt := 1; attempt <= maxUpdateAttempts; attempt++ {
		updated, err := n.updateOnce(ctx, req)
		if err == nil {
			return n.updateResponse(ctx, updated), nil
		}
		if core.CodeOf(err) != core.FailedPrecondition {
			return nil, err
		}
		lost = err
		n.log.Debug("queue changed while updating it; reading it again", "queue", req.GetQueue(), "attempt", attempt)
	}
	return nil, core.Errorf(core.Unavailable,
		"update queue %q: other updates of the queue won %d times in a row; retry (last: %v)",
		req.GetQueue(), maxUpdateAttempts, lost)
}

// updateResponse answers an UpdateQueue that is done.
func (n *Node) updateResponse(ctx context.Context, updated *raftv1.QueueRecord) *wharfv1.UpdateQueueResponse {
	// Counts are a courtesy, so failing to read them does not fail the
	// request.
	c, err := n.queueCounts(ctx, updated)
	if err != nil {
		n.log.Warn("read counts after queue update", "queue", updated.GetName(), "err", err)
		c = counts{}
	}
	return &wharfv1.UpdateQueueResponse{Queue: apiQueue(updated, c)}
}

// updateOnce reads the queue, merges the requested changes into its
// attributes, and proposes them on condition that the queue is still the
// record read. A FailedPrecondition error means it was not: the caller
// reads again (UpdateQueue fails no other way with that code).
func (n *Node) updateOnce(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*raftv1.QueueRecord, error) {
	rec, err := n.queue(ctx, "queue", req.GetQueue())
	if err != nil {
		return nil, err
	}
	attrs, err := validate.UpdateQueue(req, rec.GetAttributes())
	if err != nil {
		return nil, err
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_UpdateQueue{UpdateQueue: &raftv1.UpdateQueue{
		Name:               req.GetQueue(),
		Attributes:         attrs,
		ExpectedModifiedMs: rec.GetModifiedMs(),
		ExpectedQueueId:    rec.GetQueueId(),
	}}})
	if err != nil {
		return nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, err
	}
	updated := res.GetQueue()
	if updated == nil {
		return nil, core.Errorf(core.Internal, "update of queue %q returned no record", req.GetQueue())
	}
	return updated, nil
}

func (n *Node) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{
		Name: req.GetQueue(),
	}}})
	if err != nil {
		return nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, err
	}
	// The queue is gone as far as clients can tell. The same command
	// recorded its partitions as pending drops; the drop loop deletes their
	// data and acknowledges them, and a crash before it does only delays
	// that. The partitions are dropped here too before answering, so that
	// once a delete is acknowledged no node serves a send or receive from a
	// cached record of the queue (qcache.go): the queue shards refuse
	// commands for dropped partitions. When a drop fails (its shard is
	// unavailable), the delete is still done and the loop retries; until
	// then a node's cached record lives at most queueCacheTTL.
	n.qcache.forget(req.GetQueue())
	for _, pl := range res.GetDropped() {
		if n.cfg.skipDropLoop || !n.dropOne(ctx, pl) {
			break // (tests: skipDropLoop stands for a crash before the drops)
		}
	}
	n.kickDrops()
	return &wharfv1.DeleteQueueResponse{}, nil
}

func (n *Node) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	rec, err := n.queue(ctx, "queue", req.GetQueue())
	if err != nil {
		return nil, err
	}
	for _, pl := range rec.GetPartitions() {
		res, err := n.proposeQueue(ctx, pl.GetShardId(), &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Purge{
			Purge: &raftv1.Purge{Partition: partitionConfig(rec, pl, nil)},
		}})
		if err != nil {
			return nil, err
		}
		if err := statusError(res.GetStatus()); err != nil {
			return nil, err
		}
	}
	return &wharfv1.PurgeQueueResponse{}, nil
}

// counts are a queue's approximate message counts.
type counts struct {
	visible, inFlight, delayed int64
}

// queueCounts sums the counts of the queue's partitions, one read per shard.
func (n *Node) queueCounts(ctx context.Context, rec *raftv1.QueueRecord) (counts, error) {
	byShard := map[uint64][]uint64{}
	var order []uint64
	for _, pl := range rec.GetPartitions() {
		if _, ok := byShard[pl.GetShardId()]; !ok {
			order = append(order, pl.GetShardId())
		}
		byShard[pl.GetShardId()] = append(byShard[pl.GetShardId()], pl.GetPartitionId())
	}
	var c counts
	for _, shardID := range order {
		states, err := n.partitionStates(ctx, shardID, byShard[shardID])
		if err != nil {
			return counts{}, err
		}
		for _, st := range states {
			// A partition that holds nothing yet has no state; one of
			// another queue cannot happen (ids are never reused) but
			// would not be counted.
			if st == nil || st.GetQueueId() != rec.GetQueueId() {
				continue
			}
			c.visible += st.GetVisible()
			c.inFlight += st.GetInFlight()
			c.delayed += st.GetDelayed()
		}
	}
	return c, nil
}

// apiQueue is the API view of a queue record.
func apiQueue(rec *raftv1.QueueRecord, c counts) *wharfv1.Queue {
	a := rec.GetAttributes()
	q := &wharfv1.Queue{
		Name:                                  rec.GetName(),
		Fifo:                                  a.GetFifo(),
		ContentBasedDeduplication:             a.GetContentBasedDeduplication(),
		VisibilityTimeoutSeconds:              a.GetVisibilityTimeoutSeconds(),
		MessageRetentionSeconds:               a.GetMessageRetentionSeconds(),
		DelaySeconds:                          a.GetDelaySeconds(),
		ReceiveWaitTimeSeconds:                a.GetReceiveWaitTimeSeconds(),
		MaximumMessageBytes:                   a.GetMaximumMessageBytes(),
		ApproximateNumberOfMessages:           c.visible,
		ApproximateNumberOfMessagesNotVisible: c.inFlight,
		ApproximateNumberOfMessagesDelayed:    c.delayed,
		CreatedTimestamp:                      rec.GetCreatedMs(),
		LastModifiedTimestamp:                 rec.GetModifiedMs(),
		Partitions:                            int32(len(rec.GetPartitions())),
	}
	if a.GetDeadLetterQueue() != "" {
		q.RedrivePolicy = &wharfv1.RedrivePolicy{
			DeadLetterQueue: a.GetDeadLetterQueue(),
			MaxReceiveCount: a.GetMaxReceiveCount(),
		}
	}
	return q
}

package node

import (
	"context"
	"strconv"

	"github.com/pingcap/failpoint"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/mutants"
	"github.com/wharfmq/wharf/core/queue"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func (n *Node) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	var resp *wharfv1.SendMessageResponse
	err := n.withQueue(ctx, req.GetQueue(), nil, func(rec *raftv1.QueueRecord) (bool, error) {
		e, err := n.sendEntry(rec, "", req.GetBody(), req.DelaySeconds, req.GetAttributes(),
			req.GetMessageGroupId(), req.GetMessageDeduplicationId(), req.GetRequestId())
		if err != nil {
			return false, err
		}
		sent, err := n.send(ctx, rec, entryPartition(rec, e, n.rnd), []*raftv1.SendEntry{e})
		if err != nil {
			return isStaleRecord(err), err
		}
		if err := statusError(sent[0].GetStatus()); err != nil {
			return false, err
		}
		resp = &wharfv1.SendMessageResponse{
			MessageId:      sent[0].GetMessageId(),
			Md5OfBody:      md5Hex(req.GetBody()),
			SequenceNumber: sequenceNumber(rec, sent[0].GetSeq()),
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (n *Node) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	in := req.GetEntries()
	if err := validate.BatchIDs(len(in), func(i int) string { return in[i].GetId() }); err != nil {
		return nil, err
	}
	var resp *wharfv1.SendMessageBatchResponse
	err := n.withQueue(ctx, req.GetQueue(), nil, func(rec *raftv1.QueueRecord) (bool, error) {
		var err error
		resp, err = n.sendBatch(ctx, rec, in)
		return err != nil && isStaleRecord(err), err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// sendBatch is SendMessageBatch with the queue's record. It fails as a
// whole with a staleRecordError only when every entry met one.
func (n *Node) sendBatch(ctx context.Context, rec *raftv1.QueueRecord, in []*wharfv1.SendMessageBatchRequestEntry) (*wharfv1.SendMessageBatchResponse, error) {
	results := make([]entryResult, len(in))
	sent := make([]*raftv1.SendOutcome, len(in))
	entries := make([]*raftv1.SendEntry, len(in))
	for i, e := range in {
		entries[i], results[i].err = n.sendEntry(rec, validate.EntryPrefix(i), e.GetBody(), e.DelaySeconds,
			e.GetAttributes(), e.GetMessageGroupId(), e.GetMessageDeduplicationId(), e.GetRequestId())
	}
	order, groups := groupByPartition(len(in), func(i int) int {
		if results[i].err != nil {
			return -1
		}
		return entryPartition(rec, entries[i], n.rnd)
	})
	for _, p := range order {
		idx := groups[p]
		batch := make([]*raftv1.SendEntry, len(idx))
		for j, i := range idx {
			batch[j] = entries[i]
		}
		out, err := n.send(ctx, rec, p, batch)
		for j, i := range idx {
			if err != nil {
				results[i] = entryResult{err: err, whole: true}
				continue
			}
			sent[i], results[i].err = out[j], statusError(out[j].GetStatus())
		}
	}
	if err := wholeFailure(results); err != nil {
		if !allStale(results) {
			err = notStale(err)
		}
		return nil, err
	}
	resp := &wharfv1.SendMessageBatchResponse{}
	for i, r := range results {
		if r.err != nil {
			resp.Failed = append(resp.Failed, batchError(in[i].GetId(), r.err))
			continue
		}
		resp.Successful = append(resp.Successful, &wharfv1.SendMessageBatchResultEntry{
			Id:             in[i].GetId(),
			MessageId:      sent[i].GetMessageId(),
			Md5OfBody:      md5Hex(in[i].GetBody()),
			SequenceNumber: sequenceNumber(rec, sent[i].GetSeq()),
		})
	}
	return resp, nil
}

// sendEntry validates one message (prefix names batch entry fields) and
// makes its log entry, with a fresh message id.
func (n *Node) sendEntry(rec *raftv1.QueueRecord, prefix, body string, delay *int32,
	attrs map[string]*wharfv1.MessageAttributeValue, groupID, dedupID, requestID string) (*raftv1.SendEntry, error) {
	qa := rec.GetAttributes()
	delaySeconds, err := validate.SendEntry(prefix, qa, body, delay, attrs, groupID, dedupID)
	if err != nil {
		return nil, err
	}
	if err := validate.RequestID(prefix, requestID); err != nil {
		return nil, err
	}
	id, err := n.ids.uuid()
	if err != nil {
		return nil, core.Errorf(core.Internal, "%v", err)
	}
	if requestID == "" {
		// Every send carries a request id, so that the node may retry its
		// proposal after a timeout (see proposeLocal) without storing the
		// message twice.
		requestID = "node:" + id
	}
	return &raftv1.SendEntry{
		MessageId:       id,
		Body:            body,
		DelaySeconds:    delaySeconds,
		Attributes:      attrs,
		GroupId:         groupID,
		DeduplicationId: validate.DedupID(qa, body, dedupID),
		RequestId:       requestID,
	}, nil
}

// entryPartition picks the partition a send entry goes to. A partition
// remembers the request ids it has seen, so every attempt of a send must
// reach the same one: a standard send with a request id goes to
// hash(request id) instead of a random partition. FIFO sends already
// follow their group, which a retry repeats.
func entryPartition(rec *raftv1.QueueRecord, e *raftv1.SendEntry, r *lockedRand) int {
	if id := e.GetRequestId(); id != "" && !rec.GetAttributes().GetFifo() {
		if n := len(rec.GetPartitions()); n > 1 {
			return groupPartition(id, n)
		}
	}
	return sendPartition(rec, e.GetGroupId(), r)
}

// send proposes entries to partition p of the queue and returns one outcome
// per entry. Duplicates (a FIFO deduplication id or a request id seen
// before) come back as successes naming the original message.
func (n *Node) send(ctx context.Context, rec *raftv1.QueueRecord, p int, entries []*raftv1.SendEntry) ([]*raftv1.SendOutcome, error) {
	pl := rec.GetPartitions()[p]
	cmd := &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{
		Partition: partitionConfig(rec, pl, nil), Entries: entries,
	}}}
	failpoint.Inject(mutants.NodeAckBeforeCommit, func() {
		// Proposes in the background and answers at once, as if every
		// entry had been stored (FIFO sequence numbers come out as 0).
		go func() {
			pctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
			defer cancel()
			_, _ = n.proposeQueue(pctx, pl.GetShardId(), cmd)
		}()
		out := make([]*raftv1.SendOutcome, len(entries))
		for i, e := range entries {
			out[i] = &raftv1.SendOutcome{MessageId: e.GetMessageId()}
		}
		failpoint.Return(out, nil)
	})
	res, err := n.proposeQueue(ctx, pl.GetShardId(), cmd)
	if err != nil {
		return nil, err
	}
	if err := commandError(res.GetStatus()); err != nil {
		return nil, err
	}
	if len(res.GetSent()) != len(entries) {
		return nil, core.Errorf(core.Internal, "send of %d messages returned %d outcomes", len(entries), len(res.GetSent()))
	}
	return res.GetSent(), nil
}

// sequenceNumber is a FIFO message's sequence number as the API shows it;
// standard queues have none.
func sequenceNumber(rec *raftv1.QueueRecord, seq uint64) string {
	if !rec.GetAttributes().GetFifo() {
		return ""
	}
	return strconv.FormatUint(seq, 10)
}

// apiMessage is the API view of a delivered message, with the receipt
// handle of the lease this delivery took.
func apiMessage(rec *raftv1.QueueRecord, partitionID uint64, m *raftv1.StoredMessage) *wharfv1.Message {
	out := &wharfv1.Message{
		MessageId: m.GetMessageId(),
		ReceiptHandle: encodeHandle(handle{
			queueID: rec.GetQueueId(), partitionID: partitionID, seq: m.GetSeq(), receiveCount: m.GetReceiveCount(),
			tag: queue.LeaseTag(m.GetMessageId(), m.GetReceiveCount()),
		}),
		Body:                  m.GetBody(),
		Md5OfBody:             md5Hex(m.GetBody()),
		Attributes:            m.GetAttributes(),
		ReceiveCount:          m.GetReceiveCount(),
		SentTimestamp:         m.GetSentMs(),
		FirstReceiveTimestamp: m.GetFirstReceiveMs(),
		VisibleAtTimestamp:    m.GetVisibleAtMs(),
		MessageGroupId:        m.GetGroupId(),
	}
	if rec.GetAttributes().GetFifo() {
		out.SequenceNumber = strconv.FormatUint(m.GetSeq(), 10)
		out.MessageDeduplicationId = m.GetDeduplicationId()
	}
	return out
}

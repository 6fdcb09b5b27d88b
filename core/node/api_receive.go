package node

import (
	"context"
	"reflect"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

const (
	// pollInterval is how often a long poll looks again without a wake:
	// delayed messages and expired leases become visible through Ticks,
	// which wake waiters too, so this only covers missed wakes (a remote
	// Wait that failed, a replica here that caught up by a snapshot). A
	// look is a read of the replica here (see lookForMessages): it costs
	// no Raft entry.
	defaultPollInterval = time.Second
	// responseMargin is kept from the caller's deadline to send the empty
	// answer of a long poll in time.
	responseMargin = 100 * time.Millisecond
	// maxPollRounds bounds the looks of one long poll; with wakes at most
	// every few ms over 20 s it is never reached in practice.
	maxPollRounds = 10000
)

func (n *Node) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	var resp *wharfv1.ReceiveMessageResponse
	err := n.withQueue(ctx, req.GetQueue(), nil, func(rec *raftv1.QueueRecord) (bool, error) {
		var err error
		resp, err = n.receiveMessages(ctx, rec, req)
		return err != nil && isStaleRecord(err), err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// receiveMessages is ReceiveMessage with the queue's record. It fails with
// a staleRecordError only when a partition refused the receive before any
// message was leased.
func (n *Node) receiveMessages(ctx context.Context, rec *raftv1.QueueRecord, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	maxMessages, visibility, wait, err := validate.Receive(req, rec.GetAttributes())
	if err != nil {
		return nil, err
	}
	dl, err := n.deadLetterTarget(ctx, rec)
	if err != nil {
		return nil, err
	}
	// Long polls wait in real time, whatever clock stamps the proposals.
	until := time.Now().Add(time.Duration(wait) * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Add(-responseMargin).Before(until) {
		until = d.Add(-responseMargin)
	}
	parts := rec.GetPartitions()
	var attemptID string // orders the partitions of a FIFO receive with one
	if rec.GetAttributes().GetFifo() {
		attemptID = req.GetReceiveRequestAttemptId()
	}
	look := &receiveLook{queueID: rec.GetQueueId(), replay: attemptID != ""}
	woken := false
	var release func() // the long poll's slot, taken when it first waits
	defer func() {
		if release != nil {
			release()
		}
	}()
	for round := 0; round < maxPollRounds; round++ {
		// Watch before looking, so that a send landing between the look
		// (or an empty receive) and the wait still wakes it. Partitions
		// whose shard has no replica here are waited for on a node that
		// hosts one, which is told when we looked.
		looked := time.Now()
		var watches []<-chan struct{}
		var remote []*raftv1.Placement
		if wait > 0 {
			watches, remote = n.watchPartitions(parts)
		}
		worth, states, err := n.lookForMessages(ctx, rec, look, woken)
		if err != nil {
			return nil, err
		}
		// A standard receive fills up from the next partitions; a FIFO one
		// answers from the first partition with messages, where its attempt
		// is remembered, so that a retry finds the same answer.
		var got []*wharfv1.Message
		for _, p := range receiveOrder(len(parts), attemptID, n.rnd) {
			if !worth[p] {
				continue
			}
			msgs, err := n.receive(ctx, rec, parts[p], dl, maxMessages-int32(len(got)), visibility, req.GetReceiveRequestAttemptId())
			if err != nil {
				if len(got) > 0 {
					break // leased already: hand them out rather than strand them
				}
				return nil, err
			}
			if len(msgs) == 0 {
				look.proposed(parts[p].GetPartitionId(), states[p].st)
			}
			got = append(got, msgs...)
			if len(got) > 0 && (rec.GetAttributes().GetFifo() || len(got) >= int(maxMessages)) {
				break
			}
		}
		if len(got) > 0 {
			return &wharfv1.ReceiveMessageResponse{Messages: got}, nil
		}
		left := time.Until(until)
		if wait == 0 || left <= 0 {
			break
		}
		if release == nil {
			if release, err = n.admitLongPoll(ctx); err != nil {
				return nil, err
			}
		}
		if woken, err = n.waitPartitions(ctx, watches, remote, min(left, n.pollInterval()), looked); err != nil {
			return nil, err
		}
	}
	return &wharfv1.ReceiveMessageResponse{}, nil
}

// receive proposes one Receive to one partition.
func (n *Node) receive(ctx context.Context, rec *raftv1.QueueRecord, pl *raftv1.Placement, dl *raftv1.DeadLetterTarget,
	maxMessages, visibility int32, attemptID string) ([]*wharfv1.Message, error) {
	res, err := n.proposeQueue(ctx, pl.GetShardId(), &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{
		Partition:                partitionConfig(rec, pl, dl),
		MaxMessages:              maxMessages,
		VisibilityTimeoutSeconds: visibility,
		AttemptId:                attemptID,
	}}})
	if err != nil {
		return nil, err
	}
	if err := commandError(res.GetStatus()); err != nil {
		return nil, err
	}
	msgs := make([]*wharfv1.Message, 0, len(res.GetDelivered()))
	for _, d := range res.GetDelivered() {
		msgs = append(msgs, apiMessage(rec, pl.GetPartitionId(), d.GetMessage()))
	}
	return msgs, nil
}

// waitWake waits until one of the watched partitions wakes (woken), d
// passes, the caller gives up or the node stops.
func (n *Node) waitWake(ctx context.Context, watches []<-chan struct{}, d time.Duration) (woken bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	if len(watches) == 1 { // the common case, without reflection
		select {
		case <-watches[0]:
			return true, nil
		case <-t.C:
			return false, nil
		case <-ctx.Done():
			return false, core.Errorf(core.DeadlineExceeded, "%v while waiting for messages", ctx.Err())
		case <-n.stop:
			return false, core.Errorf(core.Unavailable, "node is shutting down")
		}
	}
	cases := make([]reflect.SelectCase, 0, len(watches)+3)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf((<-chan struct{})(n.stop))},
	)
	for _, w := range watches {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	switch chosen, _, _ := reflect.Select(cases); chosen {
	case 0:
		return false, nil
	case 1:
		return false, core.Errorf(core.DeadlineExceeded, "%v while waiting for messages", ctx.Err())
	case 2:
		return false, core.Errorf(core.Unavailable, "node is shutting down")
	}
	return true, nil
}

func (n *Node) pollInterval() time.Duration {
	if n.cfg.pollInterval > 0 {
		return n.cfg.pollInterval
	}
	return defaultPollInterval
}

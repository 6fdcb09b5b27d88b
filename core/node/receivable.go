package node

import (
	"context"
	"slices"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// A receive is a Raft proposal, fsynced on a quorum. Proposing one to a
// partition with nothing to deliver changes nothing a client can see, so a
// receive first reads the partitions' bookkeeping and proposes only to those
// that may deliver: a long poll on an idle queue waits for a wake without
// writing anything.
//
// The look is safe against a message arriving just after it: long polls
// watch before they look (see watchPartitions), and a message that the look
// missed is applied after it, on the replica whose wake they watch or, for
// a remote shard, after a linearizable read they looked with (which the
// remote Wait's lookback covers).
//
// An empty answer must be right at some moment of the request: once per
// request, before it settles for "nothing", the look is confirmed by a
// linearizable read (a ReadIndex, no log entry). Later looks of a long
// poll may read the local replica as it is: an empty answer is justified
// by the confirmed look, and what the local replica has not applied yet
// wakes the poll when it is.

// partitionLook is what a look found of one partition.
type partitionLook struct {
	st *raftv1.PartitionState // nil when the partition holds nothing
	// ready: a receive now would find a message at once (queue.Ready).
	// Read on a replica here; through another node, which only serves
	// the counts, it is Visible > 0.
	ready bool
}

// receiveLook is one long poll's memory of its looks.
type receiveLook struct {
	queueID uint64
	// replay: a FIFO receive with an attempt id, which a partition answers
	// from the attempt's record (the messages it leased) even with nothing
	// visible; the bookkeeping does not show attempts.
	replay bool
	// confirmed: a linearizable look found nothing receivable.
	confirmed bool
	// proposedOn holds, per partition, the state the last empty receive
	// proposed to it was decided on. A look that was not woken skips a
	// partition whose messages are where they were (sameMessages): the
	// receive would find what the last one found, nothing.
	proposedOn map[uint64]*raftv1.PartitionState
}

// worth reports whether a receive proposed to a partition as found may
// deliver (or move to a dead-letter queue) something. woken says whether a
// wake led to this look.
func (l *receiveLook) worth(partitionID uint64, found partitionLook, woken bool, nowMs int64) bool {
	st := found.st
	if st == nil {
		return false // the partition holds nothing
	}
	if st.GetQueueId() != l.queueID {
		return true // the receive fails, telling the caller its record is stale
	}
	if last, ok := l.proposedOn[partitionID]; ok && !woken && sameMessages(st, last) {
		return false
	}
	if found.ready || l.replay && st.GetInFlight() > 0 {
		return true
	}
	// Delays ending and leases expiring make messages visible through
	// Ticks, which wake; a receive does the same itself for what is due
	// by its clock, so it is worth proposing as soon as something is.
	due := st.GetNextWakeMs() != 0 && st.GetNextWakeMs() <= nowMs
	return due && (st.GetDelayed() > 0 || st.GetInFlight() > 0)
}

// sameMessages reports whether two states of a partition count the same
// messages in each state, none sent in between. A receive that delivers
// nothing may still move the index floors and the wake, so those are not
// compared; what makes a message receivable (a send, a delete or lease
// expiry freeing a FIFO group, a delay ending) changes the counts, and
// also wakes.
func sameMessages(a, b *raftv1.PartitionState) bool {
	return a.GetNextSeq() == b.GetNextSeq() && a.GetVisible() == b.GetVisible() &&
		a.GetInFlight() == b.GetInFlight() && a.GetDelayed() == b.GetDelayed()
}

// proposed records that a receive was proposed to the partition on state st
// and delivered nothing.
func (l *receiveLook) proposed(partitionID uint64, st *raftv1.PartitionState) {
	if l.proposedOn == nil {
		l.proposedOn = make(map[uint64]*raftv1.PartitionState)
	}
	l.proposedOn[partitionID] = st
}

// lookForMessages looks at the queue's partitions and returns which are
// worth a receive (see receiveLook.worth), with the states it decided on.
// woken says whether a wake led to this look.
func (n *Node) lookForMessages(ctx context.Context, rec *raftv1.QueueRecord, look *receiveLook, woken bool) ([]bool, []partitionLook, error) {
	parts := rec.GetPartitions()
	states, linearizable, err := n.look(ctx, parts, false)
	if err != nil {
		return nil, nil, err
	}
	worth, some := look.decide(parts, states, woken, n.nowMs())
	if some || look.confirmed {
		return worth, states, nil
	}
	if !linearizable {
		if states, _, err = n.look(ctx, parts, true); err != nil {
			return nil, nil, err
		}
		if worth, some = look.decide(parts, states, woken, n.nowMs()); some {
			return worth, states, nil
		}
	}
	// A dropped partition holds nothing either: a receive proposed to it
	// would have found the queue deleted, so check the record is current.
	if slices.ContainsFunc(states, func(f partitionLook) bool { return f.st == nil }) {
		cur, err := n.findQueue(ctx, rec.GetName())
		if err != nil {
			return nil, nil, err
		}
		if cur.GetQueueId() != rec.GetQueueId() {
			return nil, nil, &staleRecordError{err: core.Errorf(core.NotFound, "queue %q was deleted", rec.GetName())}
		}
	}
	look.confirmed = true
	return worth, states, nil
}

// decide is worth for each partition; some says whether any is worth it.
func (l *receiveLook) decide(parts []*raftv1.Placement, states []partitionLook, woken bool, nowMs int64) (worth []bool, some bool) {
	worth = make([]bool, len(parts))
	for i, pl := range parts {
		worth[i] = l.worth(pl.GetPartitionId(), states[i], woken, nowMs)
		some = some || worth[i]
	}
	return worth, some
}

// look reads the bookkeeping of the partitions (one read per shard) and
// returns it, in the order of parts. The replica here is read as it is
// when it runs, unless linearizable; other shards are read linearizably,
// on a node that hosts them. all says whether every read was linearizable.
func (n *Node) look(ctx context.Context, parts []*raftv1.Placement, linearizable bool) (states []partitionLook, all bool, err error) {
	states = make([]partitionLook, len(parts))
	all = true
	var shards []uint64
	byShard := map[uint64][]int{}
	for i, pl := range parts {
		if _, ok := byShard[pl.GetShardId()]; !ok {
			shards = append(shards, pl.GetShardId())
		}
		byShard[pl.GetShardId()] = append(byShard[pl.GetShardId()], i)
	}
	for _, shardID := range shards {
		idx := byShard[shardID]
		ids := make([]uint64, len(idx))
		for j, i := range idx {
			ids[j] = parts[i].GetPartitionId()
		}
		got, lin, err := n.readPartitions(ctx, shardID, ids, linearizable)
		if err != nil {
			return nil, false, err
		}
		all = all && lin
		for j, i := range idx {
			states[i] = got[j]
		}
	}
	return states, all, nil
}

// readPartitions looks at partitions of one shard: on the replica here as
// it is (no Raft round trip) unless linearizable, else with a linearizable
// read (lin), on the replica here when it knows a leader, otherwise on
// another node.
func (n *Node) readPartitions(ctx context.Context, shardID uint64, ids []uint64, linearizable bool) (
	found []partitionLook, lin bool, err error) {
	running, leaderKnown := n.replicaHere(shardID)
	q := shard.ReceivableQuery{PartitionIDs: ids}
	if running && !linearizable {
		v, err := n.nh.StaleRead(shardID, q)
		if res, ok := v.(shard.ReceivableResult); err == nil && ok {
			return receivableLooks(res, len(ids))
		}
		// Recovering from a snapshot or stopping: ask the shard.
	}
	if running && leaderKnown {
		rctx, cancel := withDefaultTimeout(ctx)
		defer cancel()
		v, err := n.readLocal(rctx, shardID, q)
		if err != nil {
			return nil, false, annotate(err, "look for messages")
		}
		res, _ := v.(shard.ReceivableResult)
		found, _, err = receivableLooks(res, len(ids))
		return found, true, err
	}
	states, err := n.partitionStates(ctx, shardID, ids)
	if err != nil {
		return nil, false, annotate(err, "look for messages")
	}
	found = make([]partitionLook, len(states))
	for i, st := range states {
		found[i] = partitionLook{st: st, ready: st.GetVisible() > 0}
	}
	return found, true, nil
}

// receivableLooks converts a ReceivableResult for n partitions.
func receivableLooks(res shard.ReceivableResult, n int) ([]partitionLook, bool, error) {
	if len(res.States) != n || len(res.Ready) != n {
		return nil, false, core.Errorf(core.Internal, "partition look returned %d states for %d partitions", len(res.States), n)
	}
	found := make([]partitionLook, n)
	for i := range found {
		found[i] = partitionLook{st: res.States[i], ready: res.Ready[i]}
	}
	return found, false, nil
}

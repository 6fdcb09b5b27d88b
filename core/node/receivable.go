package node

import (
	"context"
	"slices"

	"google.golang.org/protobuf/proto"

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
	// partition still in that state: the receive would find what the
	// last one found, nothing.
	proposedOn map[uint64]*raftv1.PartitionState
}

// worth reports whether a receive proposed to a partition in state st may
// deliver (or move to a dead-letter queue) something. woken says whether a
// wake led to this look.
func (l *receiveLook) worth(partitionID uint64, st *raftv1.PartitionState, woken bool, nowMs int64) bool {
	if st == nil {
		return false // the partition holds nothing
	}
	if st.GetQueueId() != l.queueID {
		return true // the receive fails, telling the caller its record is stale
	}
	if last, ok := l.proposedOn[partitionID]; ok && !woken && proto.Equal(st, last) {
		return false
	}
	if st.GetVisible() > 0 || l.replay && st.GetInFlight() > 0 {
		return true
	}
	// Delays ending and leases expiring make messages visible through
	// Ticks, which wake; a receive does the same itself for what is due
	// by its clock, so it is worth proposing as soon as something is.
	due := st.GetNextWakeMs() != 0 && st.GetNextWakeMs() <= nowMs
	return due && (st.GetDelayed() > 0 || st.GetInFlight() > 0)
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
func (n *Node) lookForMessages(ctx context.Context, rec *raftv1.QueueRecord, look *receiveLook, woken bool) ([]bool, []*raftv1.PartitionState, error) {
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
	if slices.Contains(states, nil) {
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
func (l *receiveLook) decide(parts []*raftv1.Placement, states []*raftv1.PartitionState, woken bool, nowMs int64) (worth []bool, some bool) {
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
func (n *Node) look(ctx context.Context, parts []*raftv1.Placement, linearizable bool) (states []*raftv1.PartitionState, all bool, err error) {
	states = make([]*raftv1.PartitionState, len(parts))
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

// readPartitions reads partition states of one shard: from the replica
// here as it is (no Raft round trip) unless linearizable or there is none
// that can answer, else with a linearizable read (lin).
func (n *Node) readPartitions(ctx context.Context, shardID uint64, ids []uint64, linearizable bool) (
	states []*raftv1.PartitionState, lin bool, err error) {
	if !linearizable {
		if running, _ := n.replicaHere(shardID); running {
			v, err := n.nh.StaleRead(shardID, shard.PartitionsQuery{PartitionIDs: ids})
			if states, ok := v.([]*raftv1.PartitionState); err == nil && ok && len(states) == len(ids) {
				return states, false, nil
			}
			// Recovering from a snapshot or stopping: ask the shard.
		}
	}
	if states, err = n.partitionStates(ctx, shardID, ids); err != nil {
		return nil, false, annotate(err, "look for messages")
	}
	return states, true, nil
}

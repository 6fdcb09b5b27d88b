package meta

import (
	"cmp"
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// maxAckDrops bounds the ids of one AckDrops, so that an Apply does bounded
// work. The node acknowledges far fewer per command.
const maxAckDrops = 1024

// addPendingDrops records partitions of a deleted queue as waiting to be
// dropped from their queue shards, keeping s.pending in partition id order.
// Ids are never reused, so a partition cannot already be pending.
func (s *State) addPendingDrops(pls []*raftv1.Placement) {
	for _, p := range pls {
		pl := proto.CloneOf(p)
		i, _ := slices.BinarySearchFunc(s.pending, pl.GetPartitionId(), cmpPartitionID)
		s.pending = slices.Insert(s.pending, i, pl)
	}
}

// ackDrops forgets pending drops that are done. Unknown ids are ignored, so
// a retried or duplicated ack changes nothing.
func (s *State) ackDrops(a *raftv1.AckDrops) *raftv1.MetaResult {
	ids := a.GetPartitionIds()
	if len(ids) > maxAckDrops {
		return failure(codeInvalid, "partition_ids: must be at most %d, got %d", maxAckDrops, len(ids))
	}
	if len(ids) == 0 || len(s.pending) == 0 {
		return &raftv1.MetaResult{}
	}
	done := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		done[id] = struct{}{}
	}
	// One pass, however many ids: the list may be long when a shard has
	// been unreachable for a while. PendingDrops hands out copies of the
	// slice, so filtering it in place is safe.
	s.pending = slices.DeleteFunc(s.pending, func(pl *raftv1.Placement) bool {
		_, ok := done[pl.GetPartitionId()]
		return ok
	})
	return &raftv1.MetaResult{}
}

// PendingDrops returns the partitions of deleted queues not yet dropped from
// their queue shards, in partition id order. The records are shared: callers
// must not modify them.
func (s *State) PendingDrops() []*raftv1.Placement {
	return slices.Clone(s.pending)
}

func cmpPartitionID(pl *raftv1.Placement, id uint64) int {
	return cmp.Compare(pl.GetPartitionId(), id)
}

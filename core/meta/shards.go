package meta

import (
	"cmp"
	"maps"
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Cluster limits and fixed ids.
const (
	// MetaShardID is the metadata shard; it never holds queue partitions.
	MetaShardID = 1
	// MaxNodes bounds the registered nodes (ACTIVE and DRAINING).
	MaxNodes = 7
	// MaxNodeID bounds node ids, so they stay below FirstReplicaID.
	MaxNodeID = 999
	// FirstReplicaID is the first replica id handed out. Lower ids are the
	// metadata shard's initial replicas, numbered like their nodes because
	// every initial member starts that shard before any record exists.
	FirstReplicaID = 1000
	// MaxQueueShards bounds the queue shards InitCluster creates.
	MaxQueueShards = 256
	// MaxReplicationFactor bounds the replicas per queue shard.
	MaxReplicationFactor = 5
)

// Shard returns the shard with the id, the metadata shard included; nil if
// there is none. The record is shared: callers must not modify it.
func (s *State) Shard(id uint64) *raftv1.ShardRecord {
	i, found := slices.BinarySearchFunc(s.shards, id, cmpShardID)
	if !found {
		return nil
	}
	return s.shards[i]
}

// Shards returns the queue shards (not the metadata shard) in shard id
// order. The records are shared: callers must not modify them.
func (s *State) Shards() []*raftv1.ShardRecord {
	out := make([]*raftv1.ShardRecord, 0, len(s.shards))
	for _, sh := range s.shards {
		if sh.GetShardId() != MetaShardID {
			out = append(out, sh)
		}
	}
	return out
}

// AllShards returns every shard, the metadata shard first, in shard id
// order. The records are shared: callers must not modify them.
func (s *State) AllShards() []*raftv1.ShardRecord {
	return slices.Clone(s.shards)
}

// putShard stores sh, replacing any shard with the same id. Its partition
// count is untouched: replacing a shard changes its replicas, not what it
// holds.
func (s *State) putShard(sh *raftv1.ShardRecord) {
	i, found := slices.BinarySearchFunc(s.shards, sh.GetShardId(), cmpShardID)
	if found {
		s.shards[i] = sh
		return
	}
	s.shards = slices.Insert(s.shards, i, sh)
}

func cmpShardID(sh *raftv1.ShardRecord, id uint64) int {
	return cmp.Compare(sh.GetShardId(), id)
}

// hasQueueShard reports whether any queue shard is registered.
func (s *State) hasQueueShard() bool {
	for _, sh := range s.shards {
		if sh.GetShardId() != MetaShardID {
			return true
		}
	}
	return false
}

// place picks the shard for one new partition of a queue whose partitions
// so far are on the shards in taken: the least loaded queue shard not in
// taken (partitions of one queue on one shard would add no throughput), or
// the least loaded of all once every shard holds one; the lowest shard id
// among equals. It counts the partition. The caller has checked that a
// queue shard is registered.
func (s *State) place(taken map[uint64]bool) uint64 {
	var best uint64
	better := func(id uint64) bool {
		if best == 0 {
			return true
		}
		if taken[id] != taken[best] {
			return !taken[id]
		}
		// s.shards is in id order, so a strict < keeps the lowest id on ties.
		return s.load[id] < s.load[best]
	}
	for _, sh := range s.shards {
		if id := sh.GetShardId(); id != MetaShardID && better(id) {
			best = id
		}
	}
	s.load[best]++
	return best
}

// PartitionsPerShard returns how many queue partitions each queue shard
// holds (shards with none are absent).
func (s *State) PartitionsPerShard() map[uint64]int {
	return maps.Clone(s.load)
}

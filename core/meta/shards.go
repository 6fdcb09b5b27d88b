package meta

import (
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// metaShardID is the metadata shard; it never holds queue partitions.
const metaShardID = 1

func (s *State) addShards(a *raftv1.AddShards) *raftv1.MetaResult {
	// Check every record before changing anything, so that a bad command
	// has no effect at all.
	for i, sh := range a.GetShards() {
		switch id := sh.GetShardId(); {
		case sh == nil:
			return failure(codeInvalid, "shards[%d]: missing", i)
		case id == 0:
			return failure(codeInvalid, "shards[%d].shard_id: must not be 0", i)
		case id == metaShardID:
			return failure(codeInvalid, "shards[%d].shard_id: shard %d is the metadata shard, not a queue shard", i, id)
		}
	}
	for _, sh := range a.GetShards() {
		s.putShard(proto.CloneOf(sh))
	}
	return &raftv1.MetaResult{}
}

// putShard registers sh, replacing any shard with the same id. Its partition
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
	switch {
	case sh.GetShardId() < id:
		return -1
	case sh.GetShardId() > id:
		return 1
	}
	return 0
}

// place picks the shard for one new partition: the registered shard holding
// the fewest partitions, the lowest shard id among equals. It counts the
// partition, so that the partitions of one queue spread out too. The caller
// has checked that a shard is registered.
func (s *State) place() uint64 {
	best := s.shards[0].GetShardId()
	for _, sh := range s.shards[1:] {
		// s.shards is in id order, so a strict < keeps the lowest id on ties.
		if s.load[sh.GetShardId()] < s.load[best] {
			best = sh.GetShardId()
		}
	}
	s.load[best]++
	return best
}

package meta

import (
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// addReplica adds a replica of a shard on a node. The version check makes
// a plan made against an older layout fail rather than apply twice or
// apply to a layout it was not made for.
func (s *State) addReplica(a *raftv1.AddReplica) *raftv1.MetaResult {
	sh := s.Shard(a.GetShardId())
	if sh == nil {
		return failure(codeNotFound, "shard %d does not exist", a.GetShardId())
	}
	n := s.Node(a.GetNodeId())
	if n == nil {
		return failure(codeNotFound, "node %d does not exist", a.GetNodeId())
	}
	if res := checkVersion(sh, a.GetExpectedVersion()); res != nil {
		return res
	}
	if r := replicaOn(sh, n.GetNodeId()); r != nil {
		return failure(codePrecondition, "node %d already holds replica %d of shard %d",
			n.GetNodeId(), r.GetReplicaId(), sh.GetShardId())
	}
	if n.GetState() != nodeActive {
		return failure(codePrecondition, "node %d is not active", n.GetNodeId())
	}
	rec := proto.CloneOf(sh)
	// Replica ids only grow, so appending keeps the set in id order.
	rec.ReplicaSet = append(rec.ReplicaSet, &raftv1.Replica{
		ReplicaId: s.takeReplicaID(),
		NodeId:    n.GetNodeId(),
	})
	rec.Version++
	s.putShard(rec)
	return &raftv1.MetaResult{Shard: proto.CloneOf(rec)}
}

// removeReplica removes a replica from a shard's desired set.
func (s *State) removeReplica(r *raftv1.RemoveReplica) *raftv1.MetaResult {
	sh := s.Shard(r.GetShardId())
	if sh == nil {
		return failure(codeNotFound, "shard %d does not exist", r.GetShardId())
	}
	if res := checkVersion(sh, r.GetExpectedVersion()); res != nil {
		return res
	}
	i := slices.IndexFunc(sh.GetReplicaSet(), func(x *raftv1.Replica) bool {
		return x.GetReplicaId() == r.GetReplicaId()
	})
	if i < 0 {
		return failure(codeNotFound, "shard %d has no replica %d", sh.GetShardId(), r.GetReplicaId())
	}
	// A shard without replicas has lost its data.
	if len(sh.GetReplicaSet()) == 1 {
		return failure(codePrecondition, "replica %d is the last replica of shard %d", r.GetReplicaId(), sh.GetShardId())
	}
	rec := proto.CloneOf(sh)
	rec.ReplicaSet = slices.Delete(rec.ReplicaSet, i, i+1)
	rec.Version++
	s.putShard(rec)
	return &raftv1.MetaResult{Shard: proto.CloneOf(rec)}
}

func checkVersion(sh *raftv1.ShardRecord, want uint64) *raftv1.MetaResult {
	if sh.GetVersion() != want {
		return failure(codePrecondition, "shard %d changed concurrently: version %d, expected %d",
			sh.GetShardId(), sh.GetVersion(), want)
	}
	return nil
}

// replicaOn returns the shard's replica on the node; nil if none.
func replicaOn(sh *raftv1.ShardRecord, nodeID uint64) *raftv1.Replica {
	for _, r := range sh.GetReplicaSet() {
		if r.GetNodeId() == nodeID {
			return r
		}
	}
	return nil
}

// takeReplicaID returns the next replica id. Ids are never reused, in any
// shard: Raft refuses a removed replica id coming back.
func (s *State) takeReplicaID() uint64 {
	id := max(s.nextReplicaID, FirstReplicaID)
	s.nextReplicaID = id + 1
	return id
}

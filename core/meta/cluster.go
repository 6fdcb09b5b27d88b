package meta

import (
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// initCluster registers the initial nodes and places the shards, once.
func (s *State) initCluster(c *raftv1.InitCluster) *raftv1.MetaResult {
	if res := checkInit(c); res != nil {
		return res
	}
	// Every initial member may propose it, with the same members; the
	// first one to apply wins and the others change nothing.
	if len(s.nodes) > 0 || len(s.shards) > 0 {
		return &raftv1.MetaResult{}
	}
	nodes := make([]*raftv1.NodeRecord, 0, len(c.GetNodes()))
	for _, n := range c.GetNodes() {
		nodes = append(nodes, &raftv1.NodeRecord{
			NodeId:   n.GetNodeId(),
			RaftAddr: n.GetRaftAddr(),
			ApiAddr:  n.GetApiAddr(),
			State:    raftv1.NodeState_NODE_STATE_ACTIVE,
			AddedMs:  s.clock,
		})
	}
	slices.SortFunc(nodes, cmpNodes)
	s.nodes = nodes
	s.nextReplicaID = max(s.nextReplicaID, FirstReplicaID)
	s.replicationFactor = c.GetReplicationFactor()

	// The metadata shard already runs on every initial member, with the
	// node ids as replica ids: the record describes what is.
	metaRec := &raftv1.ShardRecord{ShardId: MetaShardID, Version: 1}
	for _, n := range nodes {
		metaRec.ReplicaSet = append(metaRec.ReplicaSet,
			&raftv1.Replica{ReplicaId: n.GetNodeId(), NodeId: n.GetNodeId(), Initial: true})
	}
	s.putShard(metaRec)

	// Queue shards take nodes round-robin from where the previous shard
	// stopped, so per-node counts differ by at most one; each shard's k
	// consecutive picks are distinct nodes because k <= len(nodes).
	k := min(int(c.GetReplicationFactor()), len(nodes))
	pos := 0
	for i := range int(c.GetQueueShards()) {
		rec := &raftv1.ShardRecord{ShardId: MetaShardID + 1 + uint64(i), Version: 1}
		for range k {
			rec.ReplicaSet = append(rec.ReplicaSet, &raftv1.Replica{
				ReplicaId: s.takeReplicaID(),
				NodeId:    nodes[pos%len(nodes)].GetNodeId(),
				Initial:   true,
			})
			pos++
		}
		s.putShard(rec)
	}
	return &raftv1.MetaResult{}
}

// checkInit validates an InitCluster; nil when it is fine.
func checkInit(c *raftv1.InitCluster) *raftv1.MetaResult {
	nodes := c.GetNodes()
	if len(nodes) < 1 || len(nodes) > MaxNodes {
		return failure(codeInvalid, "nodes: must list 1 to %d nodes, got %d", MaxNodes, len(nodes))
	}
	ids := make(map[uint64]bool, len(nodes))
	addrs := make(map[string]bool, 2*len(nodes))
	for i, n := range nodes {
		if n == nil {
			return failure(codeInvalid, "nodes[%d]: missing", i)
		}
		if id := n.GetNodeId(); id < 1 || id > MaxNodeID {
			return failure(codeInvalid, "nodes[%d].node_id: must be 1 to %d, got %d", i, MaxNodeID, id)
		}
		if ids[n.GetNodeId()] {
			return failure(codeInvalid, "nodes[%d].node_id: %d is listed twice", i, n.GetNodeId())
		}
		ids[n.GetNodeId()] = true
		if n.GetRaftAddr() == "" {
			return failure(codeInvalid, "nodes[%d].raft_addr: must not be empty", i)
		}
		// A single node may not know its API address yet, so it may be
		// empty; the addresses given must all differ.
		for _, a := range []string{n.GetRaftAddr(), n.GetApiAddr()} {
			if a == "" {
				continue
			}
			if addrs[a] {
				return failure(codeInvalid, "nodes[%d]: address %q is listed twice", i, a)
			}
			addrs[a] = true
		}
	}
	if q := c.GetQueueShards(); q < 1 || q > MaxQueueShards {
		return failure(codeInvalid, "queue_shards: must be 1 to %d, got %d", MaxQueueShards, q)
	}
	if rf := c.GetReplicationFactor(); rf < 1 || rf > MaxReplicationFactor {
		return failure(codeInvalid, "replication_factor: must be 1 to %d, got %d", MaxReplicationFactor, rf)
	}
	return nil
}

// ReplicationFactor returns the replicas per queue shard InitCluster asked
// for; 0 before it.
func (s *State) ReplicationFactor() int32 {
	return s.replicationFactor
}

// Cluster returns the cluster's layout, what core/placement plans from: the
// nodes, every shard (the metadata shard included), the replica id counter,
// the replication factor and the clock. Queues and pending drops are left
// out. The records are shared: callers must not modify them.
func (s *State) Cluster() *raftv1.MetaState {
	return &raftv1.MetaState{
		ClockMs:           s.clock,
		Shards:            slices.Clone(s.shards),
		Nodes:             slices.Clone(s.nodes),
		NextReplicaId:     s.nextReplicaID,
		ReplicationFactor: s.replicationFactor,
	}
}

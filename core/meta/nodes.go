package meta

import (
	"cmp"
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

const (
	nodeActive   = raftv1.NodeState_NODE_STATE_ACTIVE
	nodeDraining = raftv1.NodeState_NODE_STATE_DRAINING
)

// Nodes returns the registered nodes in node id order. The records are
// shared: callers must not modify them.
func (s *State) Nodes() []*raftv1.NodeRecord {
	return slices.Clone(s.nodes)
}

// Node returns the node with the id; nil if there is none. The record is
// shared: callers must not modify it.
func (s *State) Node(id uint64) *raftv1.NodeRecord {
	i, found := slices.BinarySearchFunc(s.nodes, id, cmpNodeID)
	if !found {
		return nil
	}
	return s.nodes[i]
}

// addNode registers a node or updates a registered node's addresses. A node
// re-registers each time it starts, so this must be idempotent.
func (s *State) addNode(a *raftv1.AddNode) *raftv1.MetaResult {
	n := a.GetNode()
	switch {
	case n == nil:
		return failure(codeInvalid, "node: missing")
	case n.GetRaftAddr() == "":
		return failure(codeInvalid, "node.raft_addr: must not be empty")
	case n.GetNodeId() > MaxNodeID:
		return failure(codeInvalid, "node.node_id: must be at most %d, got %d", MaxNodeID, n.GetNodeId())
	case s.Shard(MetaShardID) == nil:
		// Registering nodes first would make InitCluster a no-op forever.
		return failure(codePrecondition, "the cluster is not initialized")
	}
	id := n.GetNodeId()
	if id == 0 {
		// A join retried after a timeout must not register a second node.
		if old := s.nodeWithAddr(n.GetRaftAddr()); old != nil {
			id = old.GetNodeId()
		}
	}
	if old := s.Node(id); old != nil {
		return s.updateNode(old, n)
	}
	if len(s.nodes) >= MaxNodes {
		return failure(codeExhausted, "the cluster already holds the maximum of %d nodes", MaxNodes)
	}
	if id == 0 {
		// s.nodes is sorted and not empty: the cluster is initialized.
		id = s.nodes[len(s.nodes)-1].GetNodeId() + 1
		if id > MaxNodeID {
			return failure(codeExhausted, "node ids are used up to %d", MaxNodeID)
		}
	}
	if res := s.checkAddrs(id, n); res != nil {
		return res
	}
	rec := &raftv1.NodeRecord{
		NodeId:   id,
		RaftAddr: n.GetRaftAddr(),
		ApiAddr:  n.GetApiAddr(),
		State:    nodeActive,
		AddedMs:  s.clock,
	}
	s.putNode(rec)
	return &raftv1.MetaResult{Node: proto.CloneOf(rec)}
}

// updateNode is AddNode of a registered node: a restart, perhaps with new
// addresses.
func (s *State) updateNode(old, n *raftv1.NodeRecord) *raftv1.MetaResult {
	id := old.GetNodeId()
	if old.GetState() == nodeDraining {
		return failure(codePrecondition, "node %d is draining; it cannot be added again until it is forgotten", id)
	}
	if old.GetRaftAddr() == n.GetRaftAddr() && old.GetApiAddr() == n.GetApiAddr() {
		return &raftv1.MetaResult{Node: proto.CloneOf(old)}
	}
	if res := s.checkAddrs(id, n); res != nil {
		return res
	}
	// The other members of its shards reach its replicas at the old
	// address; moving them is a remove and re-add, not an update.
	if old.GetRaftAddr() != n.GetRaftAddr() && s.holdsReplica(id) {
		return failure(codePrecondition, "node %d holds replicas; its raft address cannot change from %q to %q",
			id, old.GetRaftAddr(), n.GetRaftAddr())
	}
	rec := proto.CloneOf(old)
	rec.RaftAddr = n.GetRaftAddr()
	rec.ApiAddr = n.GetApiAddr()
	s.putNode(rec)
	return &raftv1.MetaResult{Node: proto.CloneOf(rec)}
}

// checkAddrs refuses n's addresses when another node than id uses one.
func (s *State) checkAddrs(id uint64, n *raftv1.NodeRecord) *raftv1.MetaResult {
	for _, other := range s.nodes {
		if other.GetNodeId() == id {
			continue
		}
		for _, a := range []string{n.GetRaftAddr(), n.GetApiAddr()} {
			if a != "" && (a == other.GetRaftAddr() || a == other.GetApiAddr()) {
				return failure(codeAlreadyExists, "address %q is node %d's", a, other.GetNodeId())
			}
		}
	}
	return nil
}

// removeNode starts draining a node: placement moves its replicas away.
func (s *State) removeNode(r *raftv1.RemoveNode) *raftv1.MetaResult {
	old := s.Node(r.GetNodeId())
	if old == nil {
		return failure(codeNotFound, "node %d does not exist", r.GetNodeId())
	}
	if old.GetState() == nodeDraining {
		return &raftv1.MetaResult{Node: proto.CloneOf(old)}
	}
	active := 0
	for _, n := range s.nodes {
		if n.GetState() == nodeActive {
			active++
		}
	}
	// Fewer ACTIVE nodes than the replication factor is fine (placement
	// then places fewer replicas); none at all leaves nowhere to go.
	if active <= 1 {
		return failure(codePrecondition, "node %d is the last active node", old.GetNodeId())
	}
	rec := proto.CloneOf(old)
	rec.State = nodeDraining
	s.putNode(rec)
	return &raftv1.MetaResult{Node: proto.CloneOf(rec)}
}

// forgetNode deletes a drained node.
func (s *State) forgetNode(f *raftv1.ForgetNode) *raftv1.MetaResult {
	id := f.GetNodeId()
	i, found := slices.BinarySearchFunc(s.nodes, id, cmpNodeID)
	if !found {
		return failure(codeNotFound, "node %d does not exist", id)
	}
	if s.nodes[i].GetState() != nodeDraining {
		return failure(codePrecondition, "node %d is not draining", id)
	}
	if s.holdsReplica(id) {
		return failure(codePrecondition, "node %d still holds replicas", id)
	}
	s.nodes = slices.Delete(s.nodes, i, i+1)
	return &raftv1.MetaResult{}
}

// holdsReplica reports whether any shard has a replica on the node. It
// looks at every replica: at most MaxQueueShards+1 shards of at most
// MaxNodes replicas.
func (s *State) holdsReplica(nodeID uint64) bool {
	for _, sh := range s.shards {
		if replicaOn(sh, nodeID) != nil {
			return true
		}
	}
	return false
}

// nodeWithAddr returns the node whose raft address is addr; nil if none.
func (s *State) nodeWithAddr(addr string) *raftv1.NodeRecord {
	for _, n := range s.nodes {
		if n.GetRaftAddr() == addr {
			return n
		}
	}
	return nil
}

// putNode stores rec, replacing any node with the same id.
func (s *State) putNode(rec *raftv1.NodeRecord) {
	i, found := slices.BinarySearchFunc(s.nodes, rec.GetNodeId(), cmpNodeID)
	if found {
		s.nodes[i] = rec
		return
	}
	s.nodes = slices.Insert(s.nodes, i, rec)
}

func cmpNodeID(n *raftv1.NodeRecord, id uint64) int {
	return cmp.Compare(n.GetNodeId(), id)
}

func cmpNodes(a, b *raftv1.NodeRecord) int {
	return cmp.Compare(a.GetNodeId(), b.GetNodeId())
}

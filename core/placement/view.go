package placement

import (
	"cmp"
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// metaShardID is the metadata shard, kept at maxMetaReplicas replicas
	// whatever the replication factor: every request reads it, and three
	// replicas survive one failure at the least write cost.
	metaShardID     = 1
	maxMetaReplicas = 3
)

// view is the layout Next plans from, with what it needs precomputed. All
// iteration is over sorted slices, so the plan depends only on the layout.
type view struct {
	// shards is sorted by shard id.
	shards []*raftv1.ShardRecord
	// active holds the ACTIVE node ids, sorted.
	active []uint64
	// draining holds the other registered node ids, sorted.
	draining []uint64
	isActive map[uint64]bool
	// load counts every node's replicas, over all shards.
	load map[uint64]int
	rf   int
}

func newView(st *raftv1.MetaState) *view {
	v := &view{
		shards:   slices.Clone(st.GetShards()),
		isActive: map[uint64]bool{},
		load:     map[uint64]int{},
		rf:       max(int(st.GetReplicationFactor()), 1),
	}
	slices.SortFunc(v.shards, func(a, b *raftv1.ShardRecord) int { return cmp.Compare(a.GetShardId(), b.GetShardId()) })
	for _, n := range st.GetNodes() {
		if n.GetState() == raftv1.NodeState_NODE_STATE_ACTIVE {
			v.active = append(v.active, n.GetNodeId())
			v.isActive[n.GetNodeId()] = true
		} else {
			v.draining = append(v.draining, n.GetNodeId())
		}
	}
	slices.Sort(v.active)
	slices.Sort(v.draining)
	for _, sh := range v.shards {
		for _, r := range sh.GetReplicaSet() {
			v.load[r.GetNodeId()]++
		}
	}
	return v
}

// desired is how many replicas the shard should have.
func (v *view) desired(sh *raftv1.ShardRecord) int {
	if sh.GetShardId() == metaShardID {
		return min(maxMetaReplicas, len(v.active))
	}
	return min(v.rf, len(v.active))
}

// onActive counts the shard's replicas on ACTIVE nodes.
func (v *view) onActive(sh *raftv1.ShardRecord) int {
	n := 0
	for _, r := range sh.GetReplicaSet() {
		if v.isActive[r.GetNodeId()] {
			n++
		}
	}
	return n
}

// waiting reports whether an added replica on an ACTIVE node has not caught
// up yet.
func (v *view) waiting(caughtUp func(shardID, replicaID uint64) bool) bool {
	if caughtUp == nil {
		return false
	}
	for _, sh := range v.shards {
		for _, r := range sh.GetReplicaSet() {
			if !r.GetInitial() && v.isActive[r.GetNodeId()] && !caughtUp(sh.GetShardId(), r.GetReplicaId()) {
				return true
			}
		}
	}
	return false
}

// shrink removes a surplus replica.
func (v *view) shrink() (Action, bool) {
	for _, sh := range v.shards {
		n, want, onActive := len(sh.GetReplicaSet()), v.desired(sh), v.onActive(sh)
		// Both cases leave at least want >= 1 replicas, so never none.
		if n <= want && (onActive < want || onActive == n) {
			continue
		}
		var victim *raftv1.Replica
		for _, r := range sh.GetReplicaSet() {
			if victim == nil || v.removeBefore(r, victim) {
				victim = r
			}
		}
		return Action{Kind: RemoveReplica, ShardID: sh.GetShardId(), NodeID: victim.GetNodeId(),
			ReplicaID: victim.GetReplicaId(), Version: sh.GetVersion()}, true
	}
	return Action{}, false
}

// removeBefore orders replicas for removal: on a DRAINING node first, then
// on the most loaded node, then the lowest node id.
func (v *view) removeBefore(a, b *raftv1.Replica) bool {
	aa, ba := v.isActive[a.GetNodeId()], v.isActive[b.GetNodeId()]
	if aa != ba {
		return !aa
	}
	if la, lb := v.load[a.GetNodeId()], v.load[b.GetNodeId()]; la != lb {
		return la > lb
	}
	return a.GetNodeId() < b.GetNodeId()
}

// grow adds a replica to a shard short of ACTIVE replicas.
func (v *view) grow() (Action, bool) {
	for _, sh := range v.shards {
		if v.onActive(sh) >= v.desired(sh) {
			continue
		}
		// desired <= len(active) and fewer than desired ACTIVE nodes
		// hold one, so some ACTIVE node holds none.
		target, ok := v.leastLoaded(func(id uint64) bool { return !holds(sh, id) })
		if !ok {
			continue
		}
		return Action{Kind: AddReplica, ShardID: sh.GetShardId(), NodeID: target, Version: sh.GetVersion()}, true
	}
	return Action{}, false
}

// balance starts moving a replica from the most to the least loaded ACTIVE
// node when they differ by two or more. Each such move (an add here, then a
// remove by shrink from a most loaded node) lowers the sum of squared
// loads, so balancing ends.
func (v *view) balance() (Action, bool) {
	least, _ := v.leastLoaded(func(uint64) bool { return true })
	most := v.active[0]
	for _, id := range v.active[1:] {
		if v.load[id] > v.load[most] {
			most = id
		}
	}
	if v.load[most]-v.load[least] < 2 {
		return Action{}, false
	}
	// The most loaded node holds more shards than the least loaded, so one
	// of them is not on the least loaded. Queue shards move first: moving
	// the metadata shard disturbs every request for a moment.
	var pick *raftv1.ShardRecord
	for _, sh := range v.shards {
		if !holds(sh, most) || holds(sh, least) {
			continue
		}
		if pick == nil || (pick.GetShardId() == metaShardID && sh.GetShardId() != metaShardID) {
			pick = sh
		}
	}
	if pick == nil {
		return Action{}, false
	}
	return Action{Kind: AddReplica, ShardID: pick.GetShardId(), NodeID: least, Version: pick.GetVersion()}, true
}

// forget forgets a drained node.
func (v *view) forget() (Action, bool) {
	for _, id := range v.draining {
		if v.load[id] == 0 {
			return Action{Kind: ForgetNode, NodeID: id}, true
		}
	}
	return Action{}, false
}

// leastLoaded returns the ACTIVE node with the fewest replicas among those
// ok accepts, the lowest id among equals.
func (v *view) leastLoaded(ok func(uint64) bool) (uint64, bool) {
	var best uint64
	found := false
	for _, id := range v.active {
		if ok(id) && (!found || v.load[id] < v.load[best]) {
			best, found = id, true
		}
	}
	return best, found
}

func holds(sh *raftv1.ShardRecord, nodeID uint64) bool {
	for _, r := range sh.GetReplicaSet() {
		if r.GetNodeId() == nodeID {
			return true
		}
	}
	return false
}

package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// membershipInterval is how often a shard leader compares its Raft
// membership with the desired replicas.
const membershipInterval = 500 * time.Millisecond

func (n *Node) membershipLoop(ctx context.Context) {
	every(ctx, membershipInterval, nil, func(ctx context.Context) {
		leadsAny := false
		for id := range n.localReplicas() {
			leadsAny = leadsAny || n.leads(id)
		}
		if !leadsAny {
			return
		}
		// A fresh, linearizable read, not the cached view: a leader that
		// has just taken over may hold a view from before a replica was
		// added, and removing that replica cannot be undone (a removed
		// Raft id never comes back), which left a shard short of a
		// replica for good (found by the simulator, seed 116854810).
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		cluster, err := n.readCluster(c)
		cancel()
		if err != nil {
			return
		}
		addr := map[uint64]string{}
		for _, rec := range cluster.GetNodes() {
			addr[rec.GetNodeId()] = rec.GetRaftAddr()
		}
		for _, sh := range cluster.GetShards() {
			if n.leads(sh.GetShardId()) {
				if err := n.converge(ctx, sh, addr); err != nil && !n.stopping() {
					n.log.Warn("converge membership", "shard", sh.GetShardId(), "err", err)
				}
			}
		}
	})
}

// converge makes one change to the shard's Raft membership towards the
// desired replicas: add a missing one, or remove one no longer desired.
// One change per round: each waits for the previous to commit.
func (n *Node) converge(ctx context.Context, sh *raftv1.ShardRecord, addr map[uint64]string) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id := sh.GetShardId()
	m, err := n.nh.SyncGetShardMembership(c, id)
	if err != nil {
		return err
	}
	desired := map[uint64]*raftv1.Replica{}
	for _, r := range sh.GetReplicaSet() {
		desired[r.GetReplicaId()] = r
	}
	for _, r := range sh.GetReplicaSet() {
		if _, ok := m.Nodes[r.GetReplicaId()]; ok {
			continue
		}
		if _, removed := m.Removed[r.GetReplicaId()]; removed {
			continue // a removed id can never come back; meta will not ask
		}
		a := addr[r.GetNodeId()]
		if a == "" {
			continue
		}
		n.log.Info("adding replica to raft membership", "shard", id, "replica", r.GetReplicaId(), "node", r.GetNodeId())
		return n.nh.SyncRequestAddReplica(c, id, r.GetReplicaId(), a, m.ConfigChangeID)
	}
	self := n.localReplicas()[id]
	for rid := range m.Nodes {
		if _, ok := desired[rid]; ok {
			continue
		}
		if rid == self {
			// A leader cannot remove itself safely: hand leadership to a
			// desired replica first; the new leader removes this one.
			for other := range m.Nodes {
				if _, ok := desired[other]; ok {
					n.log.Info("transferring leadership before removal", "shard", id, "to", other)
					return n.nh.RequestLeaderTransfer(id, other)
				}
			}
			continue
		}
		n.log.Info("removing replica from raft membership", "shard", id, "replica", rid)
		return n.nh.SyncRequestDeleteReplica(c, id, rid, m.ConfigChangeID)
	}
	return nil
}

// HandOffLeadership asks every shard this node leads to transfer its
// leadership to another voting replica (the lowest replica id), as an
// operator does before taking a node down for maintenance; the simulator
// uses it to move leaders under load. It returns how many transfers it
// requested; a transfer completes (or not) in the background.
func (n *Node) HandOffLeadership(ctx context.Context) (int, error) {
	local := n.localReplicas()
	shards := make([]uint64, 0, len(local))
	for id := range local {
		shards = append(shards, id)
	}
	slices.Sort(shards)
	requested := 0
	for _, id := range shards {
		leader, _, ok, err := n.nh.GetLeaderID(id)
		if err != nil || !ok || leader != local[id] {
			continue
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Second) // dragonboat needs a deadline
		m, err := n.nh.SyncGetShardMembership(c, id)
		cancel()
		if err != nil {
			return requested, fmt.Errorf("hand off leadership of shard %d: %w", id, err)
		}
		var to uint64
		for rid := range m.Nodes {
			if rid != local[id] && (to == 0 || rid < to) {
				to = rid
			}
		}
		if to == 0 {
			continue
		}
		if err := n.nh.RequestLeaderTransfer(id, to); err != nil {
			return requested, fmt.Errorf("hand off leadership of shard %d to replica %d: %w", id, to, err)
		}
		requested++
	}
	return requested, nil
}

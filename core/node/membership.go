package node

import (
	"context"
	"time"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// membershipInterval is how often a shard leader compares its Raft
// membership with the desired replicas.
const membershipInterval = 500 * time.Millisecond

func (n *Node) membershipLoop(ctx context.Context) {
	every(ctx, membershipInterval, nil, func(ctx context.Context) {
		cluster := n.clusterView()
		if cluster == nil {
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

package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// reconcileInterval is how often a node compares the replicas it runs with
// those the metadata shard assigns to it.
const reconcileInterval = 500 * time.Millisecond

// readCluster reads the cluster's layout (nodes and shards) from the
// metadata shard, here or through a peer.
func (n *Node) readCluster(ctx context.Context) (*raftv1.MetaState, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaClusterQuery{})
	if err != nil {
		return nil, err
	}
	st, ok := v.(*raftv1.MetaState)
	if !ok {
		return nil, core.Errorf(core.Internal, "metadata cluster lookup returned %T", v)
	}
	return st, nil
}

func (n *Node) reconcileLoop(ctx context.Context) {
	every(ctx, reconcileInterval, nil, func(ctx context.Context) {
		if err := n.reconcile(ctx); err != nil && !n.stopping() {
			n.log.Debug("reconcile", "err", err)
		}
	})
}

// reconcile starts the replicas the metadata shard assigns to this node and
// removes the ones it no longer does, once the shard's Raft membership has
// let them go. It also refreshes the routes and the saved list of peers.
func (n *Node) reconcile(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cluster, err := n.readCluster(c)
	if err != nil {
		return err
	}
	n.learnCluster(cluster)
	if err := n.savePeers(cluster.GetNodes()); err != nil {
		n.log.Warn("save peers", "err", err)
	}
	addr := map[uint64]string{}
	for _, rec := range cluster.GetNodes() {
		addr[rec.GetNodeId()] = rec.GetRaftAddr()
	}
	local := n.localReplicas()
	for _, sh := range cluster.GetShards() {
		running, runs := local[sh.GetShardId()]
		var mine *raftv1.Replica
		for _, r := range sh.GetReplicaSet() {
			if r.GetNodeId() == n.cfg.NodeID {
				mine = r
			}
		}
		switch {
		case mine != nil && !runs:
			if err := n.startAssigned(sh, mine, addr); err != nil {
				n.log.Warn("start assigned replica", "shard", sh.GetShardId(), "err", err)
			}
		case runs && (mine == nil || mine.GetReplicaId() != running):
			n.retire(ctx, sh, running)
		}
	}
	return nil
}

// startAssigned starts a replica the metadata shard assigns to this node.
func (n *Node) startAssigned(sh *raftv1.ShardRecord, r *raftv1.Replica, addr map[uint64]string) error {
	if n.nh.HasNodeInfo(sh.GetShardId(), r.GetReplicaId()) {
		return n.startReplica(sh.GetShardId(), r.GetReplicaId(), nil, false)
	}
	// No Raft state for this replica: a state machine store of the shard
	// here is left from an earlier replica of it on this node (removed, or
	// a removal a crash cut short). Opened by the new replica, it would
	// start it at the old one's applied index (dragonboat panics: "new
	// node at non-zero index"; found by the simulator, seed 839856194).
	if err := n.dropShardStore(sh.GetShardId()); err != nil {
		return err
	}
	if !r.GetInitial() {
		return n.startReplica(sh.GetShardId(), r.GetReplicaId(), nil, true)
	}
	members := map[uint64]string{}
	for _, m := range sh.GetReplicaSet() {
		if m.GetInitial() {
			members[m.GetReplicaId()] = addr[m.GetNodeId()]
		}
	}
	return n.startReplica(sh.GetShardId(), r.GetReplicaId(), members, false)
}

// retire removes a local replica that is no longer desired, once the
// shard's leader has taken it out of the Raft membership: removing it
// earlier could take a voter away from a shard that still counts on it.
func (n *Node) retire(ctx context.Context, sh *raftv1.ShardRecord, replicaID uint64) {
	members, known := n.leaderMembership(ctx, sh)
	if !known {
		return
	}
	if _, still := members[replicaID]; still {
		return
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.removeReplica(c, sh.GetShardId(), replicaID); err != nil {
		n.log.Warn("remove retired replica", "shard", sh.GetShardId(), "replica", replicaID, "err", err)
	}
}

// leaderMembership asks the nodes of the shard's desired replicas for the
// membership its leader knows; known is false if no leader answered.
func (n *Node) leaderMembership(ctx context.Context, sh *raftv1.ShardRecord) (map[uint64]string, bool) {
	for _, r := range sh.GetReplicaSet() {
		if r.GetNodeId() == n.cfg.NodeID {
			continue
		}
		statuses, err := n.nodeStatus(ctx, r.GetNodeId())
		if err != nil {
			continue
		}
		for _, s := range statuses {
			if s.GetShardId() == sh.GetShardId() && s.GetIsLeader() {
				return s.GetMembers(), true
			}
		}
	}
	return nil, false
}

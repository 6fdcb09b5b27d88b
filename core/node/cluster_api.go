package node

import (
	"context"
	"fmt"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/meta"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var _ wharfv1.ClusterService = (*Node)(nil)

// Joiner asks a member of a running cluster to register a new node,
// through the member's NodeService.Join on its peer (Raft) address.
// transport/peer implements it.
type Joiner interface {
	Join(ctx context.Context, memberRaftAddr string, node *raftv1.NodeRecord) (members []*raftv1.NodeRecord, err error)
}

// join registers this new node with the cluster a member belongs to, and
// learns the other nodes' addresses. The metadata leader then places
// replicas here, which the reconcile loop starts.
func (n *Node) join(ctx context.Context) error {
	j, ok := n.cfg.Peers.(Joiner)
	if !ok {
		return fmt.Errorf("join %s: the node has no peer transport that can join", n.cfg.Join)
	}
	rec := &raftv1.NodeRecord{NodeId: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr, ApiAddr: n.cfg.APIAddr}
	for attempt := 0; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		members, err := j.Join(c, n.cfg.Join, rec)
		cancel()
		if err == nil {
			if n.cfg.NodeID == 0 {
				// The cluster chose our id: it is the member with our Raft address.
				for _, m := range members {
					if m.GetRaftAddr() == n.cfg.RaftAddr {
						n.cfg.NodeID = m.GetNodeId()
					}
				}
				if n.cfg.NodeID == 0 {
					return fmt.Errorf("join via %s: the cluster's answer does not list this node", n.cfg.Join)
				}
			}
			if err := n.saveIdentity(); err != nil {
				return err
			}
			n.learnNodes(members)
			if err := n.savePeers(members); err != nil {
				return err
			}
			n.log.Info("joined the cluster", "via", n.cfg.Join, "members", len(members))
			return nil
		}
		if code := core.CodeOf(err); code != core.Unavailable && code != core.DeadlineExceeded {
			return fmt.Errorf("join via %s: %w", n.cfg.Join, err)
		}
		// The member may be starting, or may refuse this node (another
		// cluster key or CA): say so now and then, not every attempt.
		if attempt%20 == 0 {
			n.log.Warn("cannot join yet; retrying", "via", n.cfg.Join, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join via %s: %w (last error: %v)", n.cfg.Join, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// AddNode registers a node (or updates a registered node's addresses).
func (n *Node) AddNode(ctx context.Context, req *wharfv1.AddNodeRequest) (*wharfv1.AddNodeResponse, error) {
	added, members, err := n.addNode(ctx, &raftv1.NodeRecord{NodeId: req.GetNodeId(), RaftAddr: req.GetRaftAddr(), ApiAddr: req.GetApiAddr()})
	if err != nil {
		return nil, err
	}
	out := &wharfv1.AddNodeResponse{Node: apiNode(added, true)}
	for _, m := range members {
		out.Members = append(out.Members, apiNode(m, true))
	}
	return out, nil
}

// addNode registers rec (AddNode for an operator, NodeService.Join for a
// node) and returns its record and every registered node's.
func (n *Node) addNode(ctx context.Context, rec *raftv1.NodeRecord) (*raftv1.NodeRecord, []*raftv1.NodeRecord, error) {
	if rec.GetRaftAddr() == "" {
		return nil, nil, core.FieldError("raft_addr", "must not be empty")
	}
	if rec.GetApiAddr() == "" {
		return nil, nil, core.FieldError("api_addr", "must not be empty")
	}
	if rec.GetNodeId() > meta.MaxNodeID {
		return nil, nil, core.FieldError("node_id", "must be 0 (any) or 1 to %d, got %d", meta.MaxNodeID, rec.GetNodeId())
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{Node: rec}}})
	if err != nil {
		return nil, nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, nil, err
	}
	cluster, err := n.readCluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	return res.GetNode(), cluster.GetNodes(), nil
}

// RemoveNode starts draining a node: its replicas move away, then the
// cluster forgets it.
func (n *Node) RemoveNode(ctx context.Context, req *wharfv1.RemoveNodeRequest) (*wharfv1.RemoveNodeResponse, error) {
	if req.GetNodeId() == 0 {
		return nil, core.FieldError("node_id", "must be set")
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RemoveNode{RemoveNode: &raftv1.RemoveNode{NodeId: req.GetNodeId()}}})
	if err != nil {
		return nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, err
	}
	return &wharfv1.RemoveNodeResponse{Node: apiNode(res.GetNode(), true)}, nil
}

// GetClusterStatus combines the metadata shard's layout with what every
// node says of its replicas.
func (n *Node) GetClusterStatus(ctx context.Context, _ *wharfv1.GetClusterStatusRequest) (*wharfv1.GetClusterStatusResponse, error) {
	cluster, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	partitions, err := n.partitionsPerShard(ctx)
	if err != nil {
		return nil, err
	}
	statuses := n.clusterStatuses(ctx, cluster.GetNodes())
	out := &wharfv1.GetClusterStatusResponse{}
	for _, rec := range cluster.GetNodes() {
		_, reachable := statuses[rec.GetNodeId()]
		out.Nodes = append(out.Nodes, apiNode(rec, reachable))
	}
	for _, sh := range cluster.GetShards() {
		out.Shards = append(out.Shards, shardStatus(sh, statuses, partitions[sh.GetShardId()]))
	}
	return out, nil
}

func apiNode(rec *raftv1.NodeRecord, reachable bool) *wharfv1.ClusterNode {
	state := "active"
	if rec.GetState() == raftv1.NodeState_NODE_STATE_DRAINING {
		state = "draining"
	}
	return &wharfv1.ClusterNode{NodeId: rec.GetNodeId(), RaftAddr: rec.GetRaftAddr(), ApiAddr: rec.GetApiAddr(), State: state, Reachable: reachable}
}

// shardStatus describes one shard: its leader, and for each replica, desired
// or still in the membership, its health and lag.
func shardStatus(sh *raftv1.ShardRecord, statuses map[uint64][]*nodev1.ReplicaStatus, partitions int32) *wharfv1.ClusterShard {
	id := sh.GetShardId()
	kind := "queue"
	if id == metaShardID {
		kind = "metadata"
	}
	out := &wharfv1.ClusterShard{ShardId: id, Kind: kind, Partitions: partitions}
	byReplica := map[uint64]*nodev1.ReplicaStatus{}
	nodeOf := map[uint64]uint64{}
	var leader *nodev1.ReplicaStatus
	for node, list := range statuses {
		for _, s := range list {
			if s.GetShardId() != id {
				continue
			}
			byReplica[s.GetReplicaId()], nodeOf[s.GetReplicaId()] = s, node
			if s.GetIsLeader() {
				leader = s
				out.LeaderNodeId = node
			}
		}
	}
	desired := map[uint64]bool{}
	for _, r := range sh.GetReplicaSet() {
		desired[r.GetReplicaId()] = true
		out.Replicas = append(out.Replicas, replicaStatus(r.GetReplicaId(), r.GetNodeId(), byReplica[r.GetReplicaId()], leader, true))
	}
	if leader != nil {
		for rid := range leader.GetMembers() {
			if !desired[rid] {
				out.Replicas = append(out.Replicas, replicaStatus(rid, nodeOf[rid], byReplica[rid], leader, false))
			}
		}
	}
	return out
}

func replicaStatus(rid, node uint64, s, leader *nodev1.ReplicaStatus, desired bool) *wharfv1.ClusterReplica {
	r := &wharfv1.ClusterReplica{ReplicaId: rid, NodeId: node}
	_, member := leader.GetMembers()[rid]
	switch {
	case !desired:
		r.Health = "removing"
	case leader != nil && !member:
		r.Health = "adding"
	case s == nil:
		r.Health = "unreachable"
	}
	if s != nil {
		r.AppliedIndex = s.GetAppliedIndex()
		if leader != nil && leader.GetAppliedIndex() > s.GetAppliedIndex() {
			r.Lag = leader.GetAppliedIndex() - s.GetAppliedIndex()
		}
	}
	if r.Health == "" {
		r.Health = "healthy"
		if r.Lag > caughtUpLag || s.GetLeaderReplicaId() == 0 {
			r.Health = "catching_up"
		}
	}
	return r
}

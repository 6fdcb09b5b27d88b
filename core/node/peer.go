package node

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Peer names another node: its id and its peer address, the Raft address
// its node record gives, where it serves NodeService next to Raft (through
// transport/peerlink, never on the API port).
type Peer struct {
	ID       uint64
	RaftAddr string
}

// Peers carries shard operations to other nodes, which serve them on their
// own replicas (see NodeService). transport/peer implements it over Twirp; a
// simulation implements it in memory.
//
// The node passes the peer's address with each call because it already
// keeps the node records for routing, and because Peers must exist before
// the node (it is in the Config) while the addresses only come from the
// node's metadata reads.
//
// Errors are *core.Error. The other node's errors keep their code. A
// transport failure is Unavailable when the request certainly did not reach
// the other node (the caller may try another), DeadlineExceeded when it may
// have (the outcome is unknown).
type Peers interface {
	// Propose commits cmd (a marshalled QueueCommand or MetaCommand) to the
	// shard through the peer's replica and returns the marshalled result.
	Propose(ctx context.Context, to Peer, shardID uint64, cmd []byte) ([]byte, error)
	// Read runs a linearizable read on the peer's replica.
	Read(ctx context.Context, to Peer, shardID uint64, q *raftv1.ShardQuery) (*raftv1.ShardQueryResult, error)
	// Wait returns true as soon as one of the partitions (of the shard) may
	// have gained visible messages on the peer, including in the lookback
	// just before the call arrives; false after wait.
	Wait(ctx context.Context, to Peer, shardID uint64, partitionIDs []uint64, wait, lookback time.Duration) (bool, error)
	// Status describes the peer's local replicas.
	Status(ctx context.Context, to Peer) ([]*nodev1.ReplicaStatus, error)
}

// maxWait bounds a Wait: the longest long poll.
const maxWait = 20 * time.Second

// maxWaitPartitions bounds the partitions one Wait watches.
const maxWaitPartitions = 1024

// NodeService returns the service through which other nodes reach this
// node's replicas (transport/peer serves it over HTTP on the peer port). Everything it is
// asked is done on a replica here and never forwarded again, so that a
// request hops at most once and two nodes with stale routes cannot pass it
// back and forth: a node that hosts no replica of the shard answers
// Unavailable, and the caller tries another.
func (n *Node) NodeService() nodev1.NodeService { return nodeService{n} }

type nodeService struct{ n *Node }

var _ nodev1.NodeService = nodeService{}

// hosted fails with Unavailable unless a replica of the shard runs here.
func (n *Node) hosted(shardID uint64) error {
	if n.stopping() {
		return core.Errorf(core.Unavailable, "node is shutting down")
	}
	if running, _ := n.replicaHere(shardID); !running {
		return core.Errorf(core.Unavailable, "node %d hosts no replica of shard %d", n.cfg.NodeID, shardID)
	}
	return nil
}

func (s nodeService) Propose(ctx context.Context, req *nodev1.ProposeRequest) (*nodev1.ProposeResponse, error) {
	if err := s.n.hosted(req.GetShardId()); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	r, err := s.n.proposeLocal(ctx, req.GetShardId(), req.GetCommand())
	if err != nil {
		return nil, err
	}
	return &nodev1.ProposeResponse{Result: r}, nil
}

func (s nodeService) Read(ctx context.Context, req *nodev1.ReadRequest) (*nodev1.ReadResponse, error) {
	q, err := shard.QueryFromProto(req.GetQuery())
	if err != nil {
		return nil, core.FieldError("query", "%v", err)
	}
	if err := s.n.hosted(req.GetShardId()); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	v, err := s.n.readLocal(ctx, req.GetShardId(), q)
	if err != nil {
		return nil, err
	}
	res, err := shard.ResultToProto(v)
	if err != nil {
		return nil, core.Errorf(core.Internal, "read shard %d: %v", req.GetShardId(), err)
	}
	return &nodev1.ReadResponse{Result: res}, nil
}

func (s nodeService) Wait(ctx context.Context, req *nodev1.WaitRequest) (*nodev1.WaitResponse, error) {
	ids := req.GetPartitionIds()
	if len(ids) == 0 || len(ids) > maxWaitPartitions {
		return nil, core.FieldError("partition_ids", "must list 1 to %d partitions, got %d", maxWaitPartitions, len(ids))
	}
	if err := s.n.hosted(req.GetShardId()); err != nil {
		return nil, err
	}
	watches := make([]<-chan struct{}, len(ids))
	for i, p := range ids {
		watches[i] = s.n.waits.watch(p)
	}
	lookback := min(time.Duration(req.GetLookbackMs())*time.Millisecond, maxLookback)
	if lookback > 0 && s.n.waits.wokeSince(ids, time.Now().Add(-lookback)) {
		return &nodev1.WaitResponse{Woken: true}, nil
	}
	wait := min(time.Duration(req.GetWaitMs())*time.Millisecond, maxWait)
	woken, err := s.n.waitWake(ctx, watches, wait)
	if err != nil {
		return nil, err
	}
	return &nodev1.WaitResponse{Woken: woken}, nil
}

// Join registers a node that asks to join the cluster. It comes through
// the peer port, so the caller proved it is a node of this cluster (mutual
// TLS or the cluster key); the public ClusterService.AddNode is the
// operator's way.
func (s nodeService) Join(ctx context.Context, req *nodev1.JoinRequest) (*nodev1.JoinResponse, error) {
	if s.n.stopping() {
		return nil, core.Errorf(core.Unavailable, "node is shutting down")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	_, members, err := s.n.addNode(ctx, &raftv1.NodeRecord{NodeId: req.GetNodeId(), RaftAddr: req.GetRaftAddr(), ApiAddr: req.GetApiAddr()})
	if err != nil {
		return nil, err
	}
	return &nodev1.JoinResponse{Members: members}, nil
}

func (s nodeService) Status(ctx context.Context, _ *nodev1.StatusRequest) (*nodev1.StatusResponse, error) {
	if s.n.stopping() {
		return nil, core.Errorf(core.Unavailable, "node is shutting down")
	}
	return &nodev1.StatusResponse{Replicas: s.n.localStatus()}, nil
}

// localStatus describes the replicas running here, in shard id order.
func (n *Node) localStatus() []*nodev1.ReplicaStatus {
	info := n.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
	out := make([]*nodev1.ReplicaStatus, 0, len(info.ShardInfoList))
	for _, si := range info.ShardInfoList {
		st := &nodev1.ReplicaStatus{
			ShardId:         si.ShardID,
			ReplicaId:       si.ReplicaID,
			IsLeader:        si.LeaderID != 0 && si.LeaderID == si.ReplicaID,
			LeaderReplicaId: si.LeaderID,
			Members:         maps.Clone(si.Replicas),
		}
		if !si.Pending {
			st.AppliedIndex = n.appliedIndex(si.ShardID)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *nodev1.ReplicaStatus) int { return cmp.Compare(a.GetShardId(), b.GetShardId()) })
	return out
}

// appliedIndex reads the last index the local replica's state machine
// applied, without a Raft round trip (a status, not a linearizable read);
// 0 when it cannot be read now (the replica is recovering or stopping). The
// replica's latest snapshot is a floor: the metadata state machine only
// learns its index from the entries it applies after recovering one.
func (n *Node) appliedIndex(shardID uint64) uint64 {
	var applied uint64
	if shardID == metaShardID {
		v, err := n.nh.StaleRead(shardID, shard.MetaAppliedQuery{})
		if err != nil {
			return 0
		}
		applied, _ = v.(uint64)
	} else {
		v, err := n.nh.StaleRead(shardID, shard.ShardStateQuery{})
		if err != nil {
			return 0
		}
		st, _ := v.(*raftv1.ShardState)
		applied = st.GetAppliedIndex()
	}
	if lr, err := n.nh.GetLogReader(shardID); err == nil {
		applied = max(applied, lr.Snapshot().Index)
	}
	return applied
}

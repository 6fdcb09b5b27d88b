package network

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Service is what a node serves to other nodes on its peer (Raft) address;
// *node.Node has it.
type Service interface {
	NodeService() nodev1.NodeService
}

// Serve makes a node reachable by peer calls at addr (until Unserve).
func (n *Network) Serve(addr string, s Service) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.services[addr] = s
}

// Unserve makes calls to addr fail, as to a stopped process.
func (n *Network) Unserve(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.services, addr)
}

// Peers returns the node.Peers (and node.Joiner) of the node at from.
func (n *Network) Peers(from string) *Peers { return &Peers{n: n, from: from} }

// Peers calls other nodes' services directly, through the network's fault
// model: a call on a cut link, to a node that is down, or that the model
// drops fails with Unavailable before it reaches the node; one whose link
// is cut while it runs, or whose way back is cut, fails with
// DeadlineExceeded, its outcome unknown.
type Peers struct {
	n    *Network
	from string
}

var (
	_ node.Peers  = (*Peers)(nil)
	_ node.Joiner = (*Peers)(nil)
)

// call runs f on the service at to after the link's delay.
func call[Resp any](ctx context.Context, p *Peers, to string, shardID uint64, f func(Service) (Resp, error)) (Resp, error) {
	var zero Resp
	p.n.mu.Lock()
	_, delay, drop := p.n.decide(stream{from: p.from, to: to, shard: shardID, kind: kindPeer})
	p.n.mu.Unlock()
	if drop {
		return zero, core.Errorf(core.Unavailable, "simulated network lost the call from %s to %s", p.from, to)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return zero, core.Errorf(core.Unavailable, "call from %s to %s: %v", p.from, to, ctx.Err())
	case <-t.C:
	}
	p.n.mu.Lock()
	s := p.n.services[to]
	cut := p.n.cut(p.from, to)
	p.n.mu.Unlock()
	if s == nil || cut {
		return zero, core.Errorf(core.Unavailable, "node %s unreachable from %s", to, p.from)
	}
	resp, err := f(s)
	p.n.mu.Lock()
	// The answer travels back: a cut either way loses it.
	cut = p.n.cut(p.from, to) || p.n.cut(to, p.from)
	p.n.mu.Unlock()
	if cut {
		return zero, core.Errorf(core.DeadlineExceeded, "link from %s to %s cut during the call", p.from, to)
	}
	return resp, err
}

// clone copies a message as the wire would, so the two nodes share nothing.
func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

func (p *Peers) Propose(ctx context.Context, to node.Peer, shardID uint64, cmd []byte) ([]byte, error) {
	req := &nodev1.ProposeRequest{ShardId: shardID, Command: append([]byte(nil), cmd...)}
	resp, err := call(ctx, p, to.RaftAddr, shardID, func(s Service) (*nodev1.ProposeResponse, error) {
		return s.NodeService().Propose(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), resp.GetResult()...), nil
}

func (p *Peers) Read(ctx context.Context, to node.Peer, shardID uint64, q *raftv1.ShardQuery) (*raftv1.ShardQueryResult, error) {
	req := &nodev1.ReadRequest{ShardId: shardID, Query: clone(q)}
	resp, err := call(ctx, p, to.RaftAddr, shardID, func(s Service) (*nodev1.ReadResponse, error) {
		return s.NodeService().Read(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return clone(resp.GetResult()), nil
}

func (p *Peers) Wait(ctx context.Context, to node.Peer, shardID uint64, partitionIDs []uint64, wait, lookback time.Duration) (bool, error) {
	req := &nodev1.WaitRequest{
		ShardId:      shardID,
		PartitionIds: append([]uint64(nil), partitionIDs...),
		WaitMs:       uint32(min(max(wait.Milliseconds(), 0), 20000)),
		// Rounded up, as the real transport does: a lookback must not shrink.
		LookbackMs: uint32(min(max((lookback+time.Millisecond-1).Milliseconds(), 0), 1<<31)),
	}
	resp, err := call(ctx, p, to.RaftAddr, shardID, func(s Service) (*nodev1.WaitResponse, error) {
		return s.NodeService().Wait(ctx, req)
	})
	if err != nil {
		return false, err
	}
	return resp.GetWoken(), nil
}

func (p *Peers) Status(ctx context.Context, to node.Peer) ([]*nodev1.ReplicaStatus, error) {
	resp, err := call(ctx, p, to.RaftAddr, 0, func(s Service) (*nodev1.StatusResponse, error) {
		return s.NodeService().Status(ctx, &nodev1.StatusRequest{})
	})
	if err != nil {
		return nil, err
	}
	return clone(resp).GetReplicas(), nil
}

// Join registers a node through a member's NodeService, as the real
// transport does on the member's peer address.
func (p *Peers) Join(ctx context.Context, memberRaftAddr string, rec *raftv1.NodeRecord) ([]*raftv1.NodeRecord, error) {
	req := &nodev1.JoinRequest{NodeId: rec.GetNodeId(), RaftAddr: rec.GetRaftAddr(), ApiAddr: rec.GetApiAddr()}
	resp, err := call(ctx, p, memberRaftAddr, 0, func(s Service) (*nodev1.JoinResponse, error) {
		return s.NodeService().Join(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	var members []*raftv1.NodeRecord
	for _, m := range resp.GetMembers() {
		members = append(members, clone(m))
	}
	return members, nil
}

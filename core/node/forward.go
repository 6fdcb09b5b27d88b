package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
)

// maxForwards bounds the nodes one operation is sent to: every other node
// of the largest cluster core/meta allows (7), plus a seed address.
const maxForwards = 8

// onShard runs an operation on a shard: on this node's replica when it runs
// one that knows a leader (dragonboat forwards a follower's proposal to the
// leader and serves its reads through the leader), otherwise on another
// node's replica through Peers. Every proposal and read the node makes goes
// through here. op names the operation in errors ("read shard"); the shard
// id follows it.
//
// Whether a replica runs here is asked of dragonboat at each call, so
// replicas started and stopped at any time are routed right at once.
func onShard[T any](ctx context.Context, n *Node, shardID uint64, op string,
	local func(context.Context) (T, error),
	remote func(context.Context, Peer) (T, error)) (T, error) {
	running, leaderKnown := n.replicaHere(shardID)
	if n.cfg.Peers == nil || running && leaderKnown {
		return local(ctx)
	}
	v, err := forward(ctx, n, shardID, op, remote)
	if err != nil && running && core.CodeOf(err) == core.Unavailable {
		// No other node served it, and the replica here may still learn
		// of a leader before the deadline: it is electing one, or it was
		// just added to the shard.
		return local(ctx)
	}
	return v, err
}

// forward sends an operation to the other nodes that host the shard, best
// first, until one serves it. Only Unavailable moves on to the next node:
// it says the operation was not done there. Any other answer is final;
// DeadlineExceeded in particular may mean a proposal was committed, and
// sending it elsewhere could apply it twice. When every known node failed
// (or none is known: routes are briefly incomplete while nodes start or
// replicas move), it waits for the routes to be read again from the
// metadata shard and tries again, a bounded number of times.
func forward[T any](ctx context.Context, n *Node, shardID uint64, op string,
	remote func(context.Context, Peer) (T, error)) (T, error) {
	var zero T
	var last error = core.Errorf(core.Unavailable, "%s %d: no other node is known to host the shard; retry", op, shardID)
	for pass := 0; pass < maxForwardPasses; pass++ {
		if pass > 0 {
			if !sleep(ctx, n.stop, minRouteRefresh) {
				break
			}
			n.refreshRoutes(ctx, shardID)
		}
		tried := 0
		for _, p := range n.forwardCandidates(shardID) {
			if tried >= maxForwards {
				break
			}
			if n.stopping() {
				return zero, core.Errorf(core.Unavailable, "node is shutting down")
			}
			if ctx.Err() != nil {
				// Every node tried so far did nothing: still Unavailable.
				return zero, annotate(last, "%v after %d passes", ctx.Err(), pass+1)
			}
			tried++
			v, err := remote(ctx, p)
			if err == nil {
				n.routes.worked(shardID, p.ID)
				return v, nil
			}
			err = annotate(err, "%s %d through node %d (%s)", op, shardID, p.ID, p.RaftAddr)
			if core.CodeOf(err) != core.Unavailable {
				return zero, err
			}
			n.log.Debug("peer could not serve a shard operation; trying the next", "shard", shardID, "peer", p.ID, "err", err)
			last = err
		}
	}
	return zero, last
}

// maxForwardPasses bounds how often forward goes over the known nodes,
// reading the routes again in between.
const maxForwardPasses = 5

// forwardCandidates returns the nodes forward tries for the shard. For the
// metadata shard the join address comes last: a node that joined, or that
// restarted hosting no replica of the metadata shard, may know no other
// node yet.
func (n *Node) forwardCandidates(shardID uint64) []Peer {
	peers := n.routes.candidates(shardID, n.cfg.NodeID)
	if shardID == metaShardID && n.cfg.Join != "" {
		peers = append(peers, Peer{RaftAddr: n.cfg.Join})
	}
	return peers
}

// replicaHere reports whether this node runs a replica of the shard, and
// whether that replica knows a leader.
func (n *Node) replicaHere(shardID uint64) (running, leaderKnown bool) {
	_, _, ok, err := n.nh.GetLeaderID(shardID)
	return err == nil, err == nil && ok
}

// readRemote runs a read on a peer's replica, converting the query and its
// answer to and from their wire form.
func (n *Node) readRemote(ctx context.Context, p Peer, shardID uint64, query any) (any, error) {
	q, err := shard.QueryToProto(query)
	if err != nil {
		return nil, core.Errorf(core.Internal, "read shard %d: %v", shardID, err)
	}
	res, err := n.cfg.Peers.Read(ctx, p, shardID, q)
	if err != nil {
		return nil, err
	}
	v, err := shard.ResultFromProto(query, res)
	if err != nil {
		return nil, core.Errorf(core.Internal, "read shard %d: %v", shardID, err)
	}
	return v, nil
}

// annotate prefixes err's message with context, keeping its code and field:
// the code is what callers act on.
func annotate(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	var ce *core.Error
	if errors.As(err, &ce) {
		return &core.Error{Code: ce.Code, Field: ce.Field, Msg: prefix + ": " + ce.Msg}
	}
	return core.Errorf(core.Internal, "%s: %v", prefix, err)
}

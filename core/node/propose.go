package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// defaultTimeout bounds a proposal or read whose context has no deadline.
	defaultTimeout = 10 * time.Second
	// retryFirst and retryMax shape the backoff when a shard is not ready
	// (no leader yet) or busy; the context's deadline ends the retries.
	retryFirst = 5 * time.Millisecond
	retryMax   = 200 * time.Millisecond
)

// proposeQueue proposes cmd to a queue shard, stamped with the node's clock.
// A result with a failed status is returned as is: the caller maps it.
func (n *Node) proposeQueue(ctx context.Context, shardID uint64, cmd *raftv1.QueueCommand) (*raftv1.QueueResult, error) {
	cmd.NowMs = n.nowMs()
	res := &raftv1.QueueResult{}
	if err := n.propose(ctx, shardID, cmd, res); err != nil {
		return nil, err
	}
	return res, nil
}

// proposeMeta proposes cmd to the metadata shard, stamped with the node's
// clock.
func (n *Node) proposeMeta(ctx context.Context, cmd *raftv1.MetaCommand) (*raftv1.MetaResult, error) {
	cmd.NowMs = n.nowMs()
	res := &raftv1.MetaResult{}
	if err := n.propose(ctx, metaShardID, cmd, res); err != nil {
		return nil, err
	}
	return res, nil
}

// propose commits cmd to the shard, through this node's replica or another
// node's (see onShard), and decodes the state machine's result into out.
func (n *Node) propose(ctx context.Context, shardID uint64, cmd, out proto.Message) error {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return core.Errorf(core.Internal, "marshal command for shard %d: %v", shardID, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	r, err := onShard(ctx, n, shardID, "propose to shard",
		func(ctx context.Context) ([]byte, error) { return n.proposeLocal(ctx, shardID, data) },
		func(ctx context.Context, p Peer) ([]byte, error) { return n.cfg.Peers.Propose(ctx, p, shardID, data) })
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(r, out); err != nil {
		return core.Errorf(core.Internal, "decode result from shard %d: %v", shardID, err)
	}
	return nil
}

// proposeLocal commits data through this node's replica of the shard and
// returns the state machine's result. It retries only while the proposal
// certainly was not committed (shard not ready, system busy); a timeout's
// outcome is unknown, so it is never retried here.
func (n *Node) proposeLocal(ctx context.Context, shardID uint64, data []byte) ([]byte, error) {
	backoff := retryFirst
	for attempt := 0; ; attempt++ {
		if n.stopping() {
			return nil, core.Errorf(core.Unavailable, "node is shutting down")
		}
		r, err := n.nh.SyncPropose(ctx, n.nh.GetNoOPSession(shardID), data)
		if err == nil {
			return r.Data, nil
		}
		if !notCommitted(err) {
			return nil, raftError(fmt.Sprintf("propose to shard %d", shardID), err, true)
		}
		if !sleep(ctx, n.stop, backoff) {
			return nil, raftError(fmt.Sprintf("propose to shard %d after %d attempts", shardID, attempt+1), err, true)
		}
		backoff = min(2*backoff, retryMax)
	}
}

// read runs a linearizable read on the shard, through this node's replica
// or another node's (see onShard).
func (n *Node) read(ctx context.Context, shardID uint64, query any) (any, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	return onShard(ctx, n, shardID, "read shard",
		func(ctx context.Context) (any, error) { return n.readLocal(ctx, shardID, query) },
		func(ctx context.Context, p Peer) (any, error) { return n.readRemote(ctx, p, shardID, query) })
}

// readLocal runs a linearizable read on this node's replica of the shard,
// retrying while the shard is not ready.
func (n *Node) readLocal(ctx context.Context, shardID uint64, query any) (any, error) {
	backoff := retryFirst
	for attempt := 0; ; attempt++ {
		if n.stopping() {
			return nil, core.Errorf(core.Unavailable, "node is shutting down")
		}
		v, err := n.nh.SyncRead(ctx, shardID, query)
		if err == nil {
			return v, nil
		}
		if !notCommitted(err) && !shard.Retryable(err) {
			return nil, raftError(fmt.Sprintf("read shard %d", shardID), err, false)
		}
		if !sleep(ctx, n.stop, backoff) {
			return nil, raftError(fmt.Sprintf("read shard %d after %d attempts", shardID, attempt+1), err, false)
		}
		backoff = min(2*backoff, retryMax)
	}
}

// notCommitted reports errors after which the request certainly did not
// take effect and may be retried at once.
func notCommitted(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrSystemBusy)
}

// raftError maps a dragonboat error onto a core.Error. write says whether
// the request changes state: a write that timed out, or whose shard closed
// after taking it, may have been applied.
func raftError(op string, err error, write bool) error {
	unknown := func() error {
		if write {
			return core.Errorf(core.DeadlineExceeded, "%s: %v; the request may or may not have taken effect", op, err)
		}
		return core.Errorf(core.DeadlineExceeded, "%s: %v", op, err)
	}
	switch {
	case errors.Is(err, dragonboat.ErrShardNotReady),
		errors.Is(err, dragonboat.ErrSystemBusy),
		errors.Is(err, dragonboat.ErrShardNotFound),
		errors.Is(err, dragonboat.ErrShardNotInitialized),
		errors.Is(err, dragonboat.ErrClosed), // the node host refused it before taking it
		shard.Retryable(err):
		return core.Errorf(core.Unavailable, "%s: %v; retry", op, err)
	case errors.Is(err, dragonboat.ErrShardClosed), errors.Is(err, dragonboat.ErrAborted):
		// Also returned for a proposal the shard had taken when it closed.
		if write {
			return unknown()
		}
		return core.Errorf(core.Unavailable, "%s: %v; retry", op, err)
	case errors.Is(err, dragonboat.ErrTimeout),
		errors.Is(err, dragonboat.ErrCanceled),
		errors.Is(err, dragonboat.ErrInvalidDeadline),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return unknown()
	case errors.Is(err, dragonboat.ErrPayloadTooBig):
		return core.Errorf(core.InvalidArgument, "%s: request too large", op)
	default:
		return core.Errorf(core.Internal, "%s: %v", op, err)
	}
}

// statusError converts a state machine status into a *core.Error; nil on
// success.
func statusError(s *raftv1.Status) error {
	return core.FromStatus(s)
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// sleep waits d; false if ctx ended or the node is stopping first, or if ctx
// would end before d passes (the retry could not finish anyway).
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

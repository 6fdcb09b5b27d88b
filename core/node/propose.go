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
	// attemptTimeout bounds one attempt of a proposal or read. A follower
	// forwards proposals and reads to the leader it knows; if that leader
	// just died, they are dropped and would wait out the whole deadline.
	// Retrying after a short attempt instead lets them reach the new
	// leader, elected within a few hundred milliseconds. It is far above a
	// healthy commit (milliseconds), so retries are rare otherwise.
	attemptTimeout = 2 * time.Second
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
	repeatable := repeatable(shardID, data)
	for attempt := 0; ; attempt++ {
		if n.stopping() {
			return nil, core.Errorf(core.Unavailable, "node is shutting down")
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if repeatable {
			actx, cancel = context.WithTimeout(ctx, attemptTimeout)
		}
		r, err := n.nh.SyncPropose(actx, n.nh.GetNoOPSession(shardID), data)
		cancel()
		if err == nil {
			return r.Data, nil
		}
		if repeatable && ctx.Err() == nil && errors.Is(err, dragonboat.ErrTimeout) {
			continue // the attempt's deadline, not the caller's: try again
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
		// Reads change nothing: an attempt that timed out (its ReadIndex
		// lost with a dead leader) is simply made again.
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err := n.nh.SyncRead(actx, shardID, query)
		cancel()
		if err == nil {
			return v, nil
		}
		if ctx.Err() == nil && errors.Is(err, dragonboat.ErrTimeout) {
			continue
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
	case errors.Is(err, dragonboat.ErrTimeoutTooSmall):
		// Refused before it was proposed: too little of the deadline was
		// left. Nothing happened, but the caller's time is up.
		return core.Errorf(core.DeadlineExceeded, "%s: %v; the request was not started", op, err)
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

// repeatable reports whether committing the command twice is harmless, so
// that a proposal whose attempt timed out (its outcome unknown) may be made
// again. Queue commands are: sends carry request ids (the node adds one when
// the client did not), deletes and visibility changes act on one lease,
// ticks, imports and acks are idempotent, and a receive repeated leases
// other messages while the first receive's lease simply runs out, which
// at-least-once delivery allows. Metadata commands are idempotent or
// compare-and-set, except DeleteQueue: repeated, it would report not_found
// for the queue its first attempt deleted.
func repeatable(shardID uint64, data []byte) bool {
	if shardID != metaShardID {
		return true
	}
	cmd := &raftv1.MetaCommand{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return false
	}
	return cmd.GetDeleteQueue() == nil
}

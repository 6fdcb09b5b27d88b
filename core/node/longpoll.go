package node

import (
	"context"
	"sync"
	"time"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// maxLookback bounds how far back a remote waiter may ask about wakes (see
// wokeSince), and so how long the registry remembers them.
const maxLookback = 30 * time.Second

// wakeRegistry lets long polls wait for a partition to gain visible
// messages. Each watched partition has a channel that a wake closes (waking
// every waiter at once) and forgets; the next waiter makes a new one.
// Waiters take the channel before they look at the partition, so a wake
// between their look and their wait is not lost.
//
// Waiters on other nodes (NodeService.Wait) cannot take the channel before
// they look, so the registry also remembers when each partition last woke,
// for maxLookback, and they ask whether it woke since they looked.
type wakeRegistry struct {
	mu     sync.Mutex
	ch     map[uint64]chan struct{}
	last   map[uint64]time.Time // partition id to its last wake
	pruned time.Time            // when last was last pruned
}

func newWakeRegistry() *wakeRegistry {
	return &wakeRegistry{ch: make(map[uint64]chan struct{}), last: make(map[uint64]time.Time)}
}

// watch returns the channel the next wake of the partition closes.
func (r *wakeRegistry) watch(partitionID uint64) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ch[partitionID]
	if !ok {
		c = make(chan struct{})
		r.ch[partitionID] = c
	}
	return c
}

// wake wakes the partition's waiters. It never blocks: it runs on the
// shard's apply goroutine.
func (r *wakeRegistry) wake(partitionIDs []uint64) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range partitionIDs {
		if c, ok := r.ch[p]; ok {
			close(c)
			delete(r.ch, p)
		}
		r.last[p] = now
	}
	// Forget wakes too old to be asked about, at most once per
	// maxLookback: the map holds the partitions woken in the last two.
	if now.Sub(r.pruned) >= maxLookback {
		for p, t := range r.last {
			if now.Sub(t) > maxLookback {
				delete(r.last, p)
			}
		}
		r.pruned = now
	}
}

// wokeSince reports whether one of the partitions woke at or after t
// (at most maxLookback ago).
func (r *wakeRegistry) wokeSince(partitionIDs []uint64, t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range partitionIDs {
		if w, ok := r.last[p]; ok && !w.Before(t) {
			return true
		}
	}
	return false
}

// LongPollGate admits long polls: a receive asks it once, when it is about
// to wait (a receive that finds messages at once is never refused).
type LongPollGate interface {
	// Admit reserves a waiting slot for the request in ctx, or refuses it
	// with an error whose code is ResourceExhausted (and which may carry a
	// retry hint for the transport). release gives the slot back.
	Admit(ctx context.Context) (release func(), err error)
}

// admitLongPoll asks the gate, if any, for a waiting slot.
func (n *Node) admitLongPoll(ctx context.Context) (release func(), err error) {
	if n.cfg.LongPolls == nil {
		return func() {}, nil
	}
	return n.cfg.LongPolls.Admit(ctx)
}

// onWoken is the queue shards' Woken hook.
func (n *Node) onWoken(_ uint64, partitionIDs []uint64) {
	n.waits.wake(partitionIDs)
}

// onOutbox is the queue shards' Outbox hook: it kicks the dead-letter mover
// without blocking (one pending kick is enough).
func (n *Node) onOutbox(uint64) {
	select {
	case n.moverKick <- struct{}{}:
	default:
	}
}

// lookbackMargin is added to the time since a long poll looked at its
// partitions when it asks a remote node about wakes since then. The wake it
// must not miss comes after its receive was applied on that node, which
// takes at least the trip the Wait request also makes, so a small margin
// covers the difference in delays. It is kept small because every wake it
// reaches too far back for costs one more (empty) receive.
const lookbackMargin = 5 * time.Millisecond

// watchPartitions watches the partitions whose shard has a replica here
// (its wakes reach this node's registry) and returns the others, which
// must be waited for on a node that hosts their shard.
func (n *Node) watchPartitions(parts []*raftv1.Placement) (watches []<-chan struct{}, remote []*raftv1.Placement) {
	for _, pl := range parts {
		if running, _ := n.replicaHere(pl.GetShardId()); running || n.cfg.Peers == nil {
			watches = append(watches, n.waits.watch(pl.GetPartitionId()))
		} else {
			remote = append(remote, pl)
		}
	}
	return watches, remote
}

// waitPartitions waits, up to d, for a wake of the watched partitions or
// of the remote ones, which it waits for on nodes hosting their shards
// (one Wait per shard, concurrently), and reports whether one woke. looked
// is when the caller last looked at the partitions. Remote waits that fail
// only leave the caller to its fallback re-poll after d.
func (n *Node) waitPartitions(ctx context.Context, watches []<-chan struct{}, remote []*raftv1.Placement,
	d time.Duration, looked time.Time) (bool, error) {
	if len(remote) == 0 {
		return n.waitWake(ctx, watches, d)
	}
	var shards []uint64
	byShard := map[uint64][]uint64{}
	for _, pl := range remote {
		if _, ok := byShard[pl.GetShardId()]; !ok {
			shards = append(shards, pl.GetShardId())
		}
		byShard[pl.GetShardId()] = append(byShard[pl.GetShardId()], pl.GetPartitionId())
	}
	wctx, cancel := context.WithCancel(ctx)
	woken := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, shardID := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := n.waitRemote(wctx, shardID, byShard[shardID], d, looked)
			switch {
			case err != nil && wctx.Err() == nil:
				n.log.Debug("wait for messages on another node", "shard", shardID, "err", err)
			case ok:
				once.Do(func() { close(woken) })
			}
		}()
	}
	ok, err := n.waitWake(ctx, append(watches, woken), d)
	cancel()
	wg.Wait()
	return ok, err
}

// waitRemote waits up to d on a node hosting the shard for a wake of the
// partitions there since looked.
func (n *Node) waitRemote(ctx context.Context, shardID uint64, partitionIDs []uint64, d time.Duration, looked time.Time) (bool, error) {
	return forward(ctx, n, shardID, "wait for partitions of shard", func(ctx context.Context, p Peer) (bool, error) {
		lookback := min(time.Since(looked)+lookbackMargin, maxLookback)
		return n.cfg.Peers.Wait(ctx, p, shardID, partitionIDs, d, lookback)
	})
}

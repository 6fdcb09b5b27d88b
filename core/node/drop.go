package node

import (
	"context"
	"sync"
	"time"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	dropInterval = 5 * time.Second
	// maxPendingDrops bounds the partitions waiting for a retried drop;
	// dropsPerRound the drops tried per round.
	maxPendingDrops = 10000
	dropsPerRound   = 64
)

// dropQueue holds partitions of deleted queues whose drop failed. It lives
// in memory only: after a crash such partitions stay orphaned (their queue
// id is never reused, so nothing reaches them again; they just use space).
type dropQueue struct {
	mu      sync.Mutex
	pending []*raftv1.Placement
}

func newDropQueue() *dropQueue { return &dropQueue{} }

func (q *dropQueue) add(pl *raftv1.Placement) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= maxPendingDrops {
		return false
	}
	q.pending = append(q.pending, pl)
	return true
}

func (q *dropQueue) take(limit int) []*raftv1.Placement {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(limit, len(q.pending))
	out := append([]*raftv1.Placement(nil), q.pending[:k]...)
	q.pending = q.pending[k:]
	return out
}

// dropLoop retries the drops that failed when their queue was deleted.
func (n *Node) dropLoop(ctx context.Context) {
	every(ctx, dropInterval, nil, func(ctx context.Context) {
		for _, pl := range n.drops.take(dropsPerRound) {
			dctx, cancel := context.WithTimeout(ctx, loopTimeout)
			err := n.dropPartition(dctx, pl)
			cancel()
			if err == nil {
				continue
			}
			if !n.drops.add(pl) {
				n.log.Error("too many pending partition drops; abandoning one", "partition", pl.GetPartitionId(), "shard", pl.GetShardId())
			}
		}
	})
}

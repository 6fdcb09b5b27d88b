package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// tickInterval is how often the leader of each queue shard checks for
	// due work (delays ending, leases expiring, retention). It bounds how
	// late a due message becomes visible to a long poll.
	tickInterval = 250 * time.Millisecond
	// maxTicksPerRound bounds the Ticks proposed to one shard per round; a
	// Tick does bounded work, so a backlog takes several.
	maxTicksPerRound = 16
	// loopTimeout bounds each read or proposal of a background loop.
	loopTimeout = 5 * time.Second
)

func (n *Node) tickLoop(ctx context.Context) {
	every(ctx, tickInterval, nil, func(ctx context.Context) {
		for _, id := range n.localQueueShards() {
			if ctx.Err() != nil {
				return
			}
			if n.leads(id) {
				n.tickShard(ctx, id)
			}
		}
	})
}

// tickShard proposes Ticks while the shard has due work, up to the bound.
func (n *Node) tickShard(ctx context.Context, shardID uint64) {
	for range maxTicksPerRound {
		due, err := n.tickDue(ctx, shardID)
		if err != nil {
			n.log.Debug("read next wake", "shard", shardID, "err", err)
			return
		}
		if !due {
			return
		}
		tctx, cancel := context.WithTimeout(ctx, loopTimeout)
		_, err = n.proposeQueue(tctx, shardID, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}})
		cancel()
		if err != nil {
			n.log.Warn("propose tick", "shard", shardID, "err", err)
			return
		}
	}
}

// tickDue reports whether the shard has work due by this node's clock.
func (n *Node) tickDue(ctx context.Context, shardID uint64) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	v, err := n.read(rctx, shardID, shard.NextWakeQuery{})
	if err != nil {
		return false, err
	}
	wake, _ := v.(int64)
	return wake > 0 && wake <= n.nowMs(), nil
}

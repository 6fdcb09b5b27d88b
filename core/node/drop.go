package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// dropInterval is how often the drop loop looks for pending drops
	// without a kick (DeleteQueue kicks the loop of the node that served
	// it, which is not always the one that does the drops).
	dropInterval = 5 * time.Second
	// dropsPerRound bounds the partitions dropped per round.
	dropsPerRound = 64
)

// dropLoop deletes the data of deleted queues' partitions from their queue
// shards. DeleteQueue records them in the metadata shard as pending drops,
// in the same command that deletes the queue; this loop proposes
// DropPartition for each, then acknowledges the ones done (AckDrops). A
// crash anywhere in between repeats the drop, which is idempotent, so no
// partition's data outlives its queue for long.
//
// Only the metadata shard's leader runs rounds, so that in a cluster one
// node does the job.
func (n *Node) dropLoop(ctx context.Context) {
	if n.cfg.skipDropLoop {
		return
	}
	// after is where the next round reads from: when some drops keep
	// failing (a shard is down), later ones still get their turn.
	var after uint64
	round := func(ctx context.Context) { after = n.dropRound(ctx, after) }
	// At once, not after the first interval: drops a crash left pending.
	round(ctx)
	every(ctx, dropInterval, n.dropKick, round)
}

// kickDrops wakes the drop loop without waiting for it.
func (n *Node) kickDrops() {
	select {
	case n.dropKick <- struct{}{}:
	default: // a kick is already pending; it will see this drop too
	}
}

// dropRound drops up to dropsPerRound pending partitions with ids above
// after, and returns where the next round should start.
func (n *Node) dropRound(ctx context.Context, after uint64) uint64 {
	if !n.leads(metaShardID) {
		return 0
	}
	rctx, cancel := context.WithTimeout(ctx, loopTimeout)
	pending, err := n.pendingDrops(rctx, after, dropsPerRound)
	cancel()
	if err != nil {
		n.log.Debug("read pending partition drops", "err", err)
		return after
	}
	next := uint64(0) // the list's end was reached: start over next time
	if len(pending) == dropsPerRound {
		next = pending[len(pending)-1].GetPartitionId()
	}
	// A shard that failed one drop is likely to fail the next ones too:
	// skip it for the rest of the round rather than wait out each timeout.
	failed := map[uint64]bool{}
	var done []uint64
	for _, pl := range pending {
		if ctx.Err() != nil {
			break
		}
		if failed[pl.GetShardId()] {
			continue
		}
		if n.dropOne(ctx, pl) {
			done = append(done, pl.GetPartitionId())
		} else {
			failed[pl.GetShardId()] = true
		}
	}
	if len(done) == 0 {
		return next
	}
	actx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	res, err := n.proposeMeta(actx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AckDrops{
		AckDrops: &raftv1.AckDrops{PartitionIds: done},
	}})
	if err == nil {
		err = statusError(res.GetStatus())
	}
	if err != nil && ctx.Err() == nil {
		// The drops are idempotent: the next round repeats them (as does
		// the next start, when the node is stopping).
		n.log.Warn("acknowledge partition drops", "partitions", len(done), "err", err)
	}
	return next
}

// dropOne drops one partition from its queue shard. It reports whether the
// partition is finished with and may be acknowledged.
func (n *Node) dropOne(ctx context.Context, pl *raftv1.Placement) bool {
	dctx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	res, err := n.proposeQueue(dctx, pl.GetShardId(), &raftv1.QueueCommand{Op: &raftv1.QueueCommand_DropPartition{
		DropPartition: &raftv1.DropPartition{PartitionId: pl.GetPartitionId()},
	}})
	if err != nil {
		if ctx.Err() != nil {
			return false // stopping: the next start retries it
		}
		n.log.Warn("drop partition of a deleted queue; will retry", "partition", pl.GetPartitionId(),
			"shard", pl.GetShardId(), "err", err)
		return false
	}
	if err := statusError(res.GetStatus()); err != nil {
		// The state machine's answer is final: retrying gets the same one,
		// and keeping the entry would only retry it forever.
		n.log.Error("queue shard refused a partition drop; forgetting it", "partition", pl.GetPartitionId(),
			"shard", pl.GetShardId(), "code", core.CodeOf(err), "err", err)
		return true
	}
	return true
}

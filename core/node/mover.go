package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// moverInterval is how often the mover looks at outboxes without a kick
	// (kicks come from this node's own shards only).
	moverInterval = time.Second
	// moverBatch bounds the outbox entries moved per read; maxMoverRounds
	// the reads per shard per round.
	moverBatch     = 64
	maxMoverRounds = 16
)

// moverLoop moves dead-lettered messages from the outboxes of the shards led
// here into their dead-letter queues: ImportMessage into the target, then
// AckOutbox at the source. A crash between the two repeats the import,
// which the target drops as a duplicate.
func (n *Node) moverLoop(ctx context.Context) {
	every(ctx, moverInterval, n.moverKick, func(ctx context.Context) {
		for _, id := range n.localQueueShards() {
			if ctx.Err() != nil {
				return
			}
			if n.leads(id) {
				n.moveShard(ctx, id)
			}
		}
	})
}

func (n *Node) moveShard(ctx context.Context, shardID uint64) {
	for range maxMoverRounds {
		moved, full := n.moveBatch(ctx, shardID)
		if !moved || !full {
			return
		}
	}
}

// moveBatch moves up to moverBatch entries. moved says whether any was
// acknowledged, full whether the outbox may hold more.
func (n *Node) moveBatch(ctx context.Context, shardID uint64) (moved, full bool) {
	rctx, cancel := context.WithTimeout(ctx, loopTimeout)
	v, err := n.read(rctx, shardID, shard.OutboxQuery{Limit: moverBatch})
	cancel()
	if err != nil {
		n.log.Debug("read outbox", "shard", shardID, "err", err)
		return false, false
	}
	entries, _ := v.([]*raftv1.OutboxEntry)
	if len(entries) == 0 {
		return false, false
	}
	targets := map[string]*raftv1.QueueRecord{} // dead-letter queues read this round
	var done []uint64
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		if n.importEntry(ctx, e, targets) {
			done = append(done, e.GetOutboxId())
		}
	}
	if len(done) == 0 {
		return false, false
	}
	actx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	_, err = n.proposeQueue(actx, shardID, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_AckOutbox{
		AckOutbox: &raftv1.AckOutbox{OutboxIds: done},
	}})
	if err != nil {
		// The imports are idempotent: the next round repeats them.
		n.log.Warn("acknowledge outbox", "shard", shardID, "entries", len(done), "err", err)
		return false, false
	}
	return true, len(entries) == moverBatch
}

// importEntry imports one outbox entry into its dead-letter queue. It
// reports whether the entry is finished with (imported, or never can be)
// and may be acknowledged.
func (n *Node) importEntry(ctx context.Context, e *raftv1.OutboxEntry, targets map[string]*raftv1.QueueRecord) bool {
	t, m := e.GetTarget(), e.GetMessage()
	if t.GetQueueName() == "" || m == nil {
		n.log.Error("outbox entry without a target or message; dropping it", "outbox_id", e.GetOutboxId())
		return true
	}
	rec, ok := targets[t.GetQueueName()]
	if !ok {
		rctx, cancel := context.WithTimeout(ctx, loopTimeout)
		var err error
		rec, err = n.findQueue(rctx, t.GetQueueName())
		cancel()
		if err != nil {
			n.log.Debug("resolve dead-letter queue", "queue", t.GetQueueName(), "err", err)
			return false
		}
		targets[t.GetQueueName()] = rec
	}
	if rec == nil || rec.GetQueueId() != t.GetQueueId() || len(rec.GetPartitions()) == 0 {
		// The dead-letter queue was deleted since: like SQS, the message is
		// dropped.
		n.log.Info("dead-letter queue is gone; dropping message", "queue", t.GetQueueName(), "message_id", m.GetMessageId())
		return true
	}
	group := m.GetGroupId()
	if group == "" && rec.GetAttributes().GetFifo() {
		group = "dead-letter" // the group core/queue files ungrouped imports under
	}
	pl := rec.GetPartitions()[sendPartition(rec, group, n.rnd)]
	ictx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	res, err := n.proposeQueue(ictx, pl.GetShardId(), &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ImportMessage{
		ImportMessage: &raftv1.ImportMessage{
			Partition:         partitionConfig(rec, pl, nil),
			SourcePartitionId: e.GetSourcePartitionId(),
			SourceSeq:         m.GetSeq(),
			Message:           m,
		},
	}})
	if err != nil {
		n.log.Warn("import dead-lettered message; will retry", "queue", t.GetQueueName(), "message_id", m.GetMessageId(), "err", err)
		return false
	}
	if err := statusError(res.GetStatus()); err != nil {
		// The state machine's answer is final: retrying gets the same one.
		if core.CodeOf(err) != core.NotFound {
			n.log.Error("dead-letter import refused; dropping message", "queue", t.GetQueueName(),
				"message_id", m.GetMessageId(), "err", err)
		}
		return true
	}
	return true
}

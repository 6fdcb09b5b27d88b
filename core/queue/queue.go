// Package queue is the queue shard state machine: SQS semantics for every
// queue partition placed on one Raft shard. It is pure: Apply reads and
// writes only the kv.Txn it is given and takes time only from the command,
// so every replica that applies the same log reaches the same state.
package queue

import (
	"fmt"

	"github.com/wharfmq/wharf/core/kv"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Applied is what applying one command produced.
type Applied struct {
	Result *raftv1.QueueResult
	// Woken lists partitions that may have gained visible messages, for
	// waking long polls. Duplicates are possible.
	Woken []uint64
	// Outbox is true when the command added dead-letter moves to the outbox.
	Outbox bool
}

// Apply applies cmd, the Raft entry at index, to the shard state in tx and
// records index as applied. An error means storage failed or an invariant
// broke; semantic failures (a stale receipt handle, say) are reported in
// Applied.Result.
func Apply(tx kv.Txn, index uint64, cmd *raftv1.QueueCommand) (Applied, error) {
	shard, err := ShardState(tx)
	if err != nil {
		return Applied{}, err
	}
	if index <= shard.AppliedIndex && index != 0 {
		return Applied{}, fmt.Errorf("apply index %d: already applied up to %d", index, shard.AppliedIndex)
	}
	// A command that breaks the API limits or the clock horizon was forged
	// or corrupted (nodes build commands from checked requests): it is
	// refused whole, before the clock moves, and leaves nothing but its
	// index. The check reads only the command, so every replica refuses
	// the same commands.
	if err := validate.QueueCommand(cmd); err != nil {
		shard.AppliedIndex = index
		if err := putRecord(tx, shardKey(), shard); err != nil {
			return Applied{}, err
		}
		return Applied{Result: &raftv1.QueueResult{AppliedMs: shard.ClockMs,
			Status: status(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "refused command: %v", err)}}, nil
	}
	// The shard clock never goes back, whatever the proposers' clocks do.
	// It does go forward as far as a command says (up to the horizon
	// validate.QueueCommand enforces): a cluster restarted after days down
	// must expire what expired meanwhile, and nothing in a command tells a
	// legitimate jump from a forged one. Keeping forged commands out is the
	// peer port's job (docs/design.md, "Time and ids").
	if cmd.GetNowMs() > shard.ClockMs {
		shard.ClockMs = cmd.GetNowMs()
	}
	a := &applier{tx: tx, now: shard.ClockMs, shard: shard, res: &raftv1.QueueResult{AppliedMs: shard.ClockMs}}
	if err := a.apply(cmd); err != nil {
		return Applied{}, fmt.Errorf("apply entry %d: %w", index, err)
	}
	if a.wakeMoved {
		// Raise the wake floor past the entries this command deleted, so
		// that NextWake, which cannot move it, starts near the first live one.
		if _, _, err := scanFrom(tx, []byte{pWake}, &shard.WakeFloor, prefixEnd([]byte{pWake}), 1); err != nil {
			return Applied{}, err
		}
	}
	shard.AppliedIndex = index
	if err := putRecord(tx, shardKey(), shard); err != nil {
		return Applied{}, err
	}
	return Applied{Result: a.res, Woken: a.woken, Outbox: a.outbox}, nil
}

func (a *applier) apply(cmd *raftv1.QueueCommand) error {
	switch op := cmd.GetOp().(type) {
	case *raftv1.QueueCommand_Send:
		return a.send(op.Send)
	case *raftv1.QueueCommand_Receive:
		return a.receive(op.Receive)
	case *raftv1.QueueCommand_DeleteMessages:
		return a.deleteMessages(op.DeleteMessages)
	case *raftv1.QueueCommand_ChangeVisibility:
		return a.changeVisibility(op.ChangeVisibility)
	case *raftv1.QueueCommand_Purge:
		return a.purge(op.Purge)
	case *raftv1.QueueCommand_DropPartition:
		return a.drop(op.DropPartition.GetPartitionId())
	case *raftv1.QueueCommand_Tick:
		return a.tick()
	case *raftv1.QueueCommand_ImportMessage:
		return a.importMessage(op.ImportMessage)
	case *raftv1.QueueCommand_AckOutbox:
		return a.ackOutbox(op.AckOutbox)
	default:
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "unknown command")
		return nil
	}
}

// applier carries the state of one Apply.
type applier struct {
	tx     kv.Txn
	now    int64
	shard  *raftv1.ShardState
	res    *raftv1.QueueResult
	woken  []uint64
	outbox bool
	// wakeMoved: the wake index changed, so its floor may rise.
	wakeMoved bool
}

func status(code raftv1.ErrorCode, format string, args ...any) *raftv1.Status {
	return &raftv1.Status{Code: code, Message: fmt.Sprintf(format, args...)}
}

// fail sets the command's status.
func (a *applier) fail(code raftv1.ErrorCode, format string, args ...any) {
	a.res.Status = status(code, format, args...)
}

// partition is one partition's bookkeeping while a command changes it.
type partition struct {
	id       uint64
	cfg      *raftv1.PartitionConfig // nil for Ticks
	st       *raftv1.PartitionState
	prevWake int64
	// filedWake is the earliest time filed in a timed index by this
	// command (0: none), and exactWake asks savePartition to work the wake
	// out from the indexes (Ticks do).
	filedWake int64
	exactWake bool
}

// openPartition loads the partition a command targets, creating it on first
// use. It returns nil (with the command status set) if the command cannot
// target it.
func (a *applier) openPartition(cfg *raftv1.PartitionConfig) (*partition, error) {
	if cfg == nil || cfg.PartitionId == 0 || cfg.QueueId == 0 {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "command names no partition")
		return nil, nil
	}
	p, err := a.loadPartition(cfg.PartitionId)
	if err != nil {
		return nil, err
	}
	if p.st == nil {
		// Only a partition without a record can have been dropped: drop
		// deletes the record as it writes the tombstone, and nothing makes
		// a record for a dropped partition again. Checking here, not
		// first, spares every command on a live partition a read of a key
		// that is absent (the costly kind: every level is looked at).
		if _, dropped, err := a.tx.Get(tombstoneKey(cfg.PartitionId)); err != nil || dropped {
			if err == nil {
				a.fail(raftv1.ErrorCode_ERROR_CODE_NOT_FOUND, "queue %q was deleted", cfg.QueueName)
			}
			return nil, err
		}
		p.st = &raftv1.PartitionState{QueueId: cfg.QueueId, NextSeq: 1, Fifo: cfg.Fifo}
	} else if p.st.QueueId != cfg.QueueId || p.st.Fifo != cfg.Fifo {
		a.fail(raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION,
			"partition %d belongs to queue %d, not %d", cfg.PartitionId, p.st.QueueId, cfg.QueueId)
		return nil, nil
	}
	p.cfg = cfg
	return p, nil
}

// loadPartition reads a partition's state; p.st is nil when it has none.
func (a *applier) loadPartition(id uint64) (*partition, error) {
	st := &raftv1.PartitionState{}
	found, err := getRecord(a.tx, partitionKey(id), st)
	if err != nil {
		return nil, err
	}
	p := &partition{id: id}
	if found {
		p.st = st
		p.prevWake = st.NextWakeMs
	}
	return p, nil
}

// savePartition writes the partition state back, after checking its
// invariants and refiling it in the shard's wake index.
//
// A partition's wake may be early, never late: no entry of its timed
// indexes is due before it, and it is 0 only when they are empty. Commands
// only ever bring it forward, to the earliest time they filed; a Tick that
// visits the partition (it is due) works out the exact wake. Moving the
// wake later on every receive and delete, as the indexes change, would
// rewrite the shard's wake index on nearly every command, and the
// tombstones that leaves make every later scan of that index slower. An
// early wake costs one Tick that finds little to do.
func (a *applier) savePartition(p *partition) error {
	st := p.st
	if st.Visible < 0 || st.InFlight < 0 || st.Delayed < 0 {
		return fmt.Errorf("partition %d: negative count (visible %d, in flight %d, delayed %d)",
			p.id, st.Visible, st.InFlight, st.Delayed)
	}
	wake := p.prevWake
	if p.exactWake {
		var err error
		if wake, err = a.nextWake(p); err != nil {
			return err
		}
	} else if p.filedWake != 0 && (wake == 0 || p.filedWake < wake) {
		wake = p.filedWake
	}
	st.NextWakeMs = wake
	if p.prevWake != wake {
		a.wakeMoved = true
		if p.prevWake != 0 {
			if err := a.tx.Delete(wakeKey(p.prevWake, p.id)); err != nil {
				return err
			}
		}
		if wake != 0 {
			k := wakeKey(wake, p.id)
			lower(&a.shard.WakeFloor, k)
			if err := a.tx.Set(k, nil); err != nil {
				return err
			}
		}
		p.prevWake = wake
	}
	p.filedWake = 0
	return putRecord(a.tx, partitionKey(p.id), st)
}

// nextWake is the earliest time in the partition's timed indexes: when a
// Tick next has work there.
func (a *applier) nextWake(p *partition) (int64, error) {
	var wake int64
	for _, prefix := range timedIndexes {
		keys, _, err := a.scanIndex(p, prefix, nil, 1)
		if err != nil {
			return 0, err
		}
		if len(keys) > 0 {
			if t := timeOf(keys[0]); wake == 0 || t < wake {
				wake = max(t, 1) // 0 means "none"
			}
		}
	}
	return wake, nil
}

func (a *applier) wake(p uint64) { a.woken = append(a.woken, p) }

func (a *applier) getMessage(p, seq uint64) (*raftv1.StoredMessage, error) {
	m := &raftv1.StoredMessage{}
	found, err := getRecord(a.tx, messageKey(p, seq), m)
	if err != nil || !found {
		return nil, err
	}
	return m, nil
}

// ShardState returns the shard's bookkeeping (applied index, clock).
func ShardState(r kv.Reader) (*raftv1.ShardState, error) {
	st := &raftv1.ShardState{}
	if _, err := getRecord(r, shardKey(), st); err != nil {
		return nil, err
	}
	return st, nil
}

// Partition returns a partition's bookkeeping, with its message counts as of
// the last applied command; nil when the partition holds nothing.
func Partition(r kv.Reader, partitionID uint64) (*raftv1.PartitionState, error) {
	st := &raftv1.PartitionState{}
	found, err := getRecord(r, partitionKey(partitionID), st)
	if err != nil || !found {
		return nil, err
	}
	return st, nil
}

// NextWake returns the earliest shard time at which a Tick has work; 0 when none.
func NextWake(r kv.Reader) (int64, error) {
	shard, err := ShardState(r)
	if err != nil {
		return 0, err
	}
	lo := []byte{pWake}
	keys, _, err := scanFrom(r, lo, &shard.WakeFloor, prefixEnd(lo), 1)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	return int64(appendU64Decode(keys[0][1:9])), nil
}

// Outbox returns up to limit pending dead-letter moves, oldest first.
func Outbox(r kv.Reader, limit int) ([]*raftv1.OutboxEntry, error) {
	shard, err := ShardState(r)
	if err != nil {
		return nil, err
	}
	lo := []byte{pOutbox}
	floor := outboxKey(shard.OutboxFloor)
	_, values, err := scanFrom(r, lo, &floor, prefixEnd(lo), limit)
	if err != nil {
		return nil, err
	}
	out := make([]*raftv1.OutboxEntry, 0, len(values))
	for _, v := range values {
		e := &raftv1.OutboxEntry{}
		if err := unmarshal(v, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

package queue

import (
	"github.com/pingcap/failpoint"
	"github.com/wharfmq/wharf/core"

	"github.com/wharfmq/wharf/core/mutants"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	maxVisibilitySeconds = core.MaxVisibilityTimeoutSeconds
	// maxDeadLetterMoves bounds the messages one receive moves to the outbox
	// before it gives up looking for deliverable ones.
	maxDeadLetterMoves = 100
	// receivePromoteLimit bounds the due messages a receive makes visible
	// itself; Ticks do the rest.
	receivePromoteLimit = 256
	maxInFlightStandard = core.MaxInFlightStandard
	maxInFlightFIFO     = core.MaxInFlightFIFO
)

func (a *applier) receive(cmd *raftv1.Receive) error {
	if cmd.MaxMessages < 1 || cmd.MaxMessages > maxBatch {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "max_messages must be 1 to %d", maxBatch)
		return nil
	}
	if cmd.VisibilityTimeoutSeconds < 0 || cmd.VisibilityTimeoutSeconds > maxVisibilitySeconds {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "visibility_timeout_seconds must be 0 to %d", maxVisibilitySeconds)
		return nil
	}
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	// A receive right after a lease expires must see the message even if no
	// Tick has run since.
	if err := a.promoteDue(p, receivePromoteLimit); err != nil {
		return err
	}
	if err := a.expireDue(p, receivePromoteLimit); err != nil {
		return err
	}
	failpoint.Inject(mutants.QueueIgnoreVisibility, func() {
		if err := a.promoteInFlight(p, receivePromoteLimit); err != nil {
			failpoint.Return(err)
		}
	})
	if p.st.Fifo && cmd.AttemptId != "" {
		replayed, err := a.replayAttempt(p, cmd.AttemptId)
		if err != nil || replayed {
			return err
		}
	}
	r := &receiver{a: a, p: p, want: int(cmd.MaxMessages), visibilityMs: int64(cmd.VisibilityTimeoutSeconds) * 1000, moves: maxDeadLetterMoves}
	if p.st.Fifo {
		err = r.fifo()
	} else {
		err = r.standard()
	}
	if err != nil {
		return err
	}
	if len(a.res.Delivered) == 0 && r.full {
		a.fail(raftv1.ErrorCode_ERROR_CODE_RESOURCE_EXHAUSTED,
			"queue %q has %d messages in flight, the most it may have", p.cfg.QueueName, p.st.InFlight)
	}
	// An attempt that delivered nothing is not recorded: a long poll repeats
	// its receive, and must then see messages that arrived meanwhile.
	if p.st.Fifo && cmd.AttemptId != "" && len(a.res.Delivered) > 0 {
		if err := a.recordAttempt(p, cmd.AttemptId); err != nil {
			return err
		}
	}
	return a.savePartition(p)
}

// receiver leases messages for one receive.
type receiver struct {
	a            *applier
	p            *partition
	want         int
	visibilityMs int64
	moves        int  // dead-letter moves left
	full         bool // stopped at the in-flight limit
	taken        int  // messages leased or moved
}

func (r *receiver) done() bool { return len(r.a.res.Delivered) >= r.want || r.moves <= 0 || r.full }

// take leases m, or moves it to its dead-letter queue if it was received
// too often already.
func (r *receiver) take(m *raftv1.StoredMessage) error {
	dl := r.p.cfg.DeadLetter
	r.taken++
	if dl != nil && dl.MaxReceiveCount > 0 && m.ReceiveCount >= dl.MaxReceiveCount {
		r.moves--
		return r.a.moveToOutbox(r.p, m)
	}
	limit := int64(maxInFlightStandard)
	if r.p.st.Fifo {
		limit = maxInFlightFIFO
	}
	if r.p.st.InFlight >= limit {
		r.full = true
		r.taken--
		return nil
	}
	if err := r.a.lease(r.p, m, r.visibilityMs); err != nil {
		return err
	}
	r.a.res.Delivered = append(r.a.res.Delivered, &raftv1.Delivery{Message: m})
	return nil
}

// standard delivers the earliest-visible messages.
func (r *receiver) standard() error {
	for !r.done() {
		keys, _, err := r.a.scanIndex(r.p, pReady, nil, r.want-len(r.a.res.Delivered))
		if err != nil || len(keys) == 0 {
			return err
		}
		for _, k := range keys {
			if r.done() {
				break
			}
			m, err := r.a.mustMessage(r.p.id, seqOf(k), "ready index")
			if err != nil {
				return err
			}
			if err := r.take(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// fifo delivers from the groups that became available first, each group's
// messages in order for as long as they are visible.
func (r *receiver) fifo() error {
	for !r.done() {
		_, groups, err := r.a.scanIndex(r.p, pReady, nil, 1)
		if err != nil || len(groups) == 0 {
			return err
		}
		group := string(groups[0])
		before := r.taken
		g, err := r.a.getGroup(r.p.id, group)
		if err != nil {
			return err
		}
		seqs, err := r.a.groupScan(r.p.id, group, g, r.want-len(r.a.res.Delivered)+r.moves)
		if err != nil {
			return err
		}
		if err := r.a.putGroup(r.p, group, g); err != nil {
			return err
		}
		failpoint.Inject(mutants.QueueFIFOSkipHead, func() {
			if len(seqs) > 1 {
				seqs = seqs[1:]
			}
		})
		for _, seq := range seqs {
			if r.done() {
				break
			}
			m, err := r.a.mustMessage(r.p.id, seq, "group index")
			if err != nil {
				return err
			}
			if m.State != raftv1.MessageState_MESSAGE_STATE_VISIBLE {
				break // a delayed message holds back the rest of its group
			}
			if err := r.take(m); err != nil {
				return err
			}
		}
		if r.taken == before {
			// Nothing changed, so the group is still filed as available:
			// only the in-flight limit can cause that. Stop rather than spin.
			return nil
		}
	}
	return nil
}

func (a *applier) mustMessage(p, seq uint64, index string) (*raftv1.StoredMessage, error) {
	m, err := a.getMessage(p, seq)
	if err == nil && m == nil {
		return nil, errMissing(p, seq, index)
	}
	return m, err
}

// replayAttempt answers a retried FIFO receive with the messages the first
// attempt leased, those still held under the same lease. It reports whether
// the attempt was known.
func (a *applier) replayAttempt(p *partition, id string) (bool, error) {
	at := &raftv1.ReceiveAttempt{}
	found, err := getRecord(a.tx, attemptKey(p.id, id), at)
	if err != nil || !found || at.ExpiresAtMs <= a.now {
		return false, err
	}
	for _, l := range at.Leases {
		m, err := a.getMessage(p.id, l.Seq)
		if err != nil {
			return false, err
		}
		if m != nil && m.ReceiveCount == l.ReceiveCount && m.State == raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT {
			a.res.Delivered = append(a.res.Delivered, &raftv1.Delivery{Message: m})
		}
	}
	return true, a.savePartition(p)
}

func (a *applier) recordAttempt(p *partition, id string) error {
	old := &raftv1.ReceiveAttempt{}
	found, err := getRecord(a.tx, attemptKey(p.id, id), old)
	if err != nil {
		return err
	}
	if found {
		if err := a.tx.Delete(attemptExpiryKey(p.id, old.ExpiresAtMs, id)); err != nil {
			return err
		}
	}
	at := &raftv1.ReceiveAttempt{ExpiresAtMs: a.now + dedupWindowMs}
	for _, d := range a.res.Delivered {
		at.Leases = append(at.Leases, &raftv1.Lease{Seq: d.Message.Seq, ReceiveCount: d.Message.ReceiveCount})
	}
	if err := a.file(p, pAttemptExp, attemptExpiryKey(p.id, at.ExpiresAtMs, id), nil); err != nil {
		return err
	}
	return putRecord(a.tx, attemptKey(p.id, id), at)
}

package queue

import (
	"fmt"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// A message is in exactly one state, and the state says which index holds
// it: DELAYED and IN_FLIGHT messages sit in the waiting index until
// visible_at_ms; VISIBLE messages of a standard queue sit in the ready
// index. Visible FIFO messages are reached through their group instead.
// Every state change goes through the functions in this file, which keep the
// indexes and the partition's counts in step.

// insert stores a new message. delayMs > 0 delays it.
func (a *applier) insert(p *partition, m *raftv1.StoredMessage, delayMs int64) error {
	m.ExpiresAtMs = m.SentMs + int64(p.cfg.MessageRetentionSeconds)*1000
	if err := a.file(p, pExpiry, timedKey(pExpiry, p.id, m.ExpiresAtMs, m.Seq), nil); err != nil {
		return err
	}
	var g *raftv1.GroupState
	if p.st.Fifo {
		var err error
		if g, err = a.getGroup(p.id, m.GroupId); err != nil {
			return err
		}
		if g.Messages == 0 {
			// Every older message of the group is gone: start its scans here.
			g.FloorSeq = m.Seq
		}
		g.Messages++
		if err := a.tx.Set(groupMessageKey(p.id, m.GroupId, m.Seq), nil); err != nil {
			return err
		}
		if delayMs > 0 {
			if err := a.putGroup(p, m.GroupId, g); err != nil {
				return err
			}
		}
	}
	if delayMs > 0 {
		m.State = raftv1.MessageState_MESSAGE_STATE_DELAYED
		m.VisibleAtMs = a.now + delayMs
		p.st.Delayed++
		if err := a.file(p, pWaiting, timedKey(pWaiting, p.id, m.VisibleAtMs, m.Seq), nil); err != nil {
			return err
		}
		return putRecord(a.tx, messageKey(p.id, m.Seq), m)
	}
	return a.becomeVisible(p, m, a.now, g)
}

// becomeVisible files m as visible since readyAt and saves it. The caller has
// already taken m out of the index of its previous state. For a FIFO
// message, g is its group's state if the caller has it loaded (and changed,
// unsaved), nil otherwise.
func (a *applier) becomeVisible(p *partition, m *raftv1.StoredMessage, readyAt int64, g *raftv1.GroupState) error {
	m.State = raftv1.MessageState_MESSAGE_STATE_VISIBLE
	m.VisibleAtMs = 0
	m.ReadyAtMs = readyAt
	p.st.Visible++
	if err := putRecord(a.tx, messageKey(p.id, m.Seq), m); err != nil {
		return err
	}
	a.wake(p.id)
	if p.st.Fifo {
		if g != nil {
			return a.refileGroup(p, m.GroupId, g)
		}
		return a.refreshGroup(p, m.GroupId)
	}
	return a.file(p, pReady, timedKey(pReady, p.id, readyAt, m.Seq), nil)
}

// unfile takes m out of the index of its state and out of the counts.
func (a *applier) unfile(p *partition, m *raftv1.StoredMessage) error {
	switch m.State {
	case raftv1.MessageState_MESSAGE_STATE_VISIBLE:
		p.st.Visible--
		if p.st.Fifo {
			return nil
		}
		return a.tx.Delete(timedKey(pReady, p.id, m.ReadyAtMs, m.Seq))
	case raftv1.MessageState_MESSAGE_STATE_DELAYED:
		p.st.Delayed--
	case raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT:
		p.st.InFlight--
		if p.st.Fifo {
			if err := a.addGroupInFlight(p, m.GroupId, -1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("partition %d message %d: unknown state %v", p.id, m.Seq, m.State)
	}
	return a.tx.Delete(timedKey(pWaiting, p.id, m.VisibleAtMs, m.Seq))
}

// lease puts m in flight for visibilityMs and saves it.
func (a *applier) lease(p *partition, m *raftv1.StoredMessage, visibilityMs int64) error {
	if err := a.unfile(p, m); err != nil {
		return err
	}
	m.ReceiveCount++
	if m.FirstReceiveMs == 0 {
		m.FirstReceiveMs = a.now
	}
	return a.putInFlight(p, m, a.now+visibilityMs)
}

// putInFlight files an unfiled m as in flight until visibleAt and saves it.
func (a *applier) putInFlight(p *partition, m *raftv1.StoredMessage, visibleAt int64) error {
	m.State = raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT
	m.VisibleAtMs = visibleAt
	m.ReadyAtMs = 0
	p.st.InFlight++
	if p.st.Fifo {
		if err := a.addGroupInFlight(p, m.GroupId, 1); err != nil {
			return err
		}
	}
	if err := a.file(p, pWaiting, timedKey(pWaiting, p.id, visibleAt, m.Seq), nil); err != nil {
		return err
	}
	return putRecord(a.tx, messageKey(p.id, m.Seq), m)
}

// remove deletes m and every trace of it.
func (a *applier) remove(p *partition, m *raftv1.StoredMessage) error {
	if err := a.unfile(p, m); err != nil {
		return err
	}
	if err := a.tx.Delete(messageKey(p.id, m.Seq)); err != nil {
		return err
	}
	if err := a.tx.Delete(timedKey(pExpiry, p.id, m.ExpiresAtMs, m.Seq)); err != nil {
		return err
	}
	if !p.st.Fifo {
		return nil
	}
	if err := a.tx.Delete(groupMessageKey(p.id, m.GroupId, m.Seq)); err != nil {
		return err
	}
	g, err := a.getGroup(p.id, m.GroupId)
	if err != nil {
		return err
	}
	g.Messages--
	return a.refileGroup(p, m.GroupId, g)
}

// dueMessages returns up to limit messages whose time has come in a timed
// index: the waiting index (delays and leases that ended) or the expiry
// index (retention that ended).
func (a *applier) dueMessages(p *partition, index byte, limit int) ([]*raftv1.StoredMessage, error) {
	keys, _, err := a.scanIndex(p, index, timedUpTo(index, p.id, a.now), limit)
	if err != nil {
		return nil, err
	}
	ms := make([]*raftv1.StoredMessage, 0, len(keys))
	for _, k := range keys {
		m, err := a.mustMessage(p.id, seqOf(k), fmt.Sprintf("index %c", index))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// promoteDue makes visible up to limit delayed or in-flight messages whose
// time has come.
func (a *applier) promoteDue(p *partition, limit int) error {
	ms, err := a.dueMessages(p, pWaiting, limit)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := a.unfile(p, m); err != nil {
			return err
		}
		// Filed under the time it became visible, not under now: the ready
		// index then orders messages by when they became visible.
		if err := a.becomeVisible(p, m, m.VisibleAtMs, nil); err != nil {
			return err
		}
	}
	return nil
}

// expireDue removes up to limit messages past their retention period.
func (a *applier) expireDue(p *partition, limit int) error {
	ms, err := a.dueMessages(p, pExpiry, limit)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := a.remove(p, m); err != nil {
			return err
		}
	}
	return nil
}

// promoteInFlight makes visible up to limit in-flight messages, whether or
// not their visibility timeout has passed. Only the planted bug
// queue-ignore-visibility (see core/mutants) calls it.
func (a *applier) promoteInFlight(p *partition, limit int) error {
	keys, _, err := a.scanIndex(p, pWaiting, nil, limit)
	if err != nil {
		return err
	}
	for _, k := range keys {
		m, err := a.getMessage(p.id, seqOf(k))
		if err != nil {
			return err
		}
		if m == nil || m.State != raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT {
			continue
		}
		if err := a.unfile(p, m); err != nil {
			return err
		}
		if err := a.becomeVisible(p, m, a.now, nil); err != nil {
			return err
		}
	}
	return nil
}

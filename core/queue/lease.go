package queue

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/pingcap/failpoint"

	"github.com/wharfmq/wharf/core/mutants"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// LeaseTag is the tag of the lease that receive number receiveCount of the
// message with id messageID holds. Message ids are random, so nobody who has
// not received the message can make a handle for it.
func LeaseTag(messageID string, receiveCount int32) uint64 {
	h := sha256.New()
	h.Write([]byte("wharf lease\x00"))
	h.Write([]byte(messageID))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(receiveCount)))
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// A lease is current while the message's receive count equals the one the
// receipt handle carries: a later receive of the message makes every earlier
// handle stale. A current handle still works after its visibility timeout
// passed, as long as nobody received the message again (as in SQS).

// checkLease returns the message a lease names; the status is set when the
// lease cannot act on it. A missing message returns (nil, nil).
func (a *applier) checkLease(p *partition, l *raftv1.Lease) (*raftv1.StoredMessage, *raftv1.Status, error) {
	if l == nil || l.Seq == 0 || l.ReceiveCount < 1 {
		return nil, status(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "receipt handle is not valid"), nil
	}
	m, err := a.getMessage(p.id, l.Seq)
	if err != nil || m == nil {
		return nil, nil, err
	}
	if l.Tag != LeaseTag(m.MessageId, l.ReceiveCount) {
		return nil, status(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "receipt handle is not valid"), nil
	}
	stale := m.ReceiveCount != l.ReceiveCount
	failpoint.Inject(mutants.QueueAcceptStaleHandle, func() { stale = false })
	if stale {
		return m, status(raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION,
			"receipt handle is stale: message %s was received again since (receive %d, handle is from receive %d)",
			m.MessageId, m.ReceiveCount, l.ReceiveCount), nil
	}
	return m, nil, nil
}

func (a *applier) deleteMessages(cmd *raftv1.DeleteMessages) error {
	if n := len(cmd.Leases); n == 0 || n > maxBatch {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a delete holds 1 to %d receipt handles, not %d", maxBatch, n)
		return nil
	}
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	for _, l := range cmd.Leases {
		m, st, err := a.checkLease(p, l)
		if err != nil {
			return err
		}
		// Deleting a message that is gone succeeds: deletes are idempotent.
		if st == nil && m != nil {
			failpoint.Inject(mutants.QueueDeleteWrongMessage, func() {
				next, err := a.getMessage(p.id, m.Seq+1)
				if err != nil {
					failpoint.Return(err)
				}
				if next != nil {
					m = next
				}
			})
			if err := a.remove(p, m); err != nil {
				return err
			}
		}
		a.res.Outcomes = append(a.res.Outcomes, okOr(st))
	}
	return a.savePartition(p)
}

func (a *applier) changeVisibility(cmd *raftv1.ChangeVisibility) error {
	if n := len(cmd.Changes); n == 0 || n > maxBatch {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a visibility change holds 1 to %d entries, not %d", maxBatch, n)
		return nil
	}
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	// Leases that expired before this command count as expired, even if no
	// Tick made their messages visible yet.
	if err := a.promoteDue(p, receivePromoteLimit); err != nil {
		return err
	}
	for _, c := range cmd.Changes {
		st, err := a.changeOne(p, c)
		if err != nil {
			return err
		}
		a.res.Outcomes = append(a.res.Outcomes, okOr(st))
	}
	return a.savePartition(p)
}

func (a *applier) changeOne(p *partition, c *raftv1.VisibilityChange) (*raftv1.Status, error) {
	if c.VisibilityTimeoutSeconds < 0 || c.VisibilityTimeoutSeconds > maxVisibilitySeconds {
		return status(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "visibility_timeout_seconds must be 0 to %d", maxVisibilitySeconds), nil
	}
	m, st, err := a.checkLease(p, c.Lease)
	if err != nil || st != nil {
		return st, err
	}
	if m == nil {
		return status(raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION, "message does not exist: it was deleted or expired"), nil
	}
	if m.State != raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT || m.VisibleAtMs <= a.now {
		return status(raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION,
			"message %s is not in flight: its visibility timeout has passed", m.MessageId), nil
	}
	if err := a.unfile(p, m); err != nil {
		return nil, err
	}
	if c.VisibilityTimeoutSeconds == 0 {
		return nil, a.becomeVisible(p, m, a.now, nil)
	}
	return nil, a.putInFlight(p, m, a.now+int64(c.VisibilityTimeoutSeconds)*1000)
}

func okOr(st *raftv1.Status) *raftv1.Status {
	if st == nil {
		return &raftv1.Status{}
	}
	return st
}

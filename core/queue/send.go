package queue

import (
	"github.com/wharfmq/wharf/core"
	"unicode/utf8"

	"github.com/pingcap/failpoint"

	"github.com/wharfmq/wharf/core/mutants"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	maxBatch          = core.MaxBatchEntries
	dedupWindowMs     = core.DedupWindowMillis
	importDedupWindow = 60 * 60 * 1000
)

func (a *applier) send(cmd *raftv1.Send) error {
	if n := len(cmd.Entries); n == 0 || n > maxBatch {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "a send holds 1 to %d entries, not %d", maxBatch, n)
		return nil
	}
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	for _, e := range cmd.Entries {
		out, err := a.sendOne(p, e)
		if err != nil {
			return err
		}
		a.res.Sent = append(a.res.Sent, out)
	}
	return a.savePartition(p)
}

func (a *applier) sendOne(p *partition, e *raftv1.SendEntry) (*raftv1.SendOutcome, error) {
	// The node validated the entry; these checks keep a bad proposal from
	// storing what the API promises never to store.
	switch {
	case len(e.Body) == 0 || int64(len(e.Body)) > int64(p.cfg.MaximumMessageBytes):
		return rejected("body must be 1 to %d bytes", p.cfg.MaximumMessageBytes), nil
	case !utf8.ValidString(e.Body):
		return rejected("body must be UTF-8"), nil
	case e.MessageId == "":
		return rejected("message id missing"), nil
	case p.st.Fifo && e.GroupId == "":
		return rejected("message_group_id is required on a FIFO queue"), nil
	case p.st.Fifo && e.DeduplicationId == "":
		return rejected("message_deduplication_id is required on a FIFO queue"), nil
	}
	// The request id comes first: a retry must get the answer the first
	// attempt got, even if the FIFO dedup record has expired since.
	dup, priorRequest, err := a.recalled(p, dedupRequest, e.RequestId)
	failpoint.Inject(mutants.QueueForgetRequestID, func() { dup = nil })
	if dup != nil || err != nil {
		return dup, err
	}
	var priorFIFO *raftv1.Dedup
	if p.st.Fifo {
		var dup *raftv1.SendOutcome
		dup, priorFIFO, err = a.recalled(p, dedupFIFO, e.DeduplicationId)
		if err != nil {
			return nil, err
		}
		failpoint.Inject(mutants.QueueForgetDedup, func() { dup = nil })
		if dup != nil {
			// Remember the request id too, for the same reason: its
			// retries name this message until the request id expires.
			return dup, a.rememberRequest(p, e.RequestId, priorRequest, dup.MessageId, dup.Seq)
		}
	}
	seq := p.st.NextSeq
	p.st.NextSeq++
	m := &raftv1.StoredMessage{
		MessageId:       e.MessageId,
		Seq:             seq,
		Body:            e.Body,
		Attributes:      e.Attributes,
		SentMs:          a.now,
		GroupId:         e.GroupId,
		DeduplicationId: e.DeduplicationId,
	}
	delay := int64(e.DelaySeconds)
	if delay < 0 {
		delay = int64(p.cfg.DelaySeconds)
	}
	if err := a.insert(p, m, delay*1000); err != nil {
		return nil, err
	}
	if p.st.Fifo {
		if err := a.remember(p, dedupFIFO, e.DeduplicationId, priorFIFO, m, dedupWindowMs); err != nil {
			return nil, err
		}
	}
	if err := a.rememberRequest(p, e.RequestId, priorRequest, m.MessageId, seq); err != nil {
		return nil, err
	}
	return &raftv1.SendOutcome{MessageId: m.MessageId, Seq: seq}, nil
}

// recalled returns the duplicate outcome for a send whose id (of the given
// kind) the partition remembers and whose window has not passed; nil when
// id is empty or not remembered. Expired records may linger until a Tick
// removes them, so the expiry time decides, not the record's presence.
// prior is the stored record, expired or not (nil when there is none):
// remember takes it, so that an id is read once per send. The read is the
// costly part: the id is almost always absent, and proving a key absent
// means looking at every level of the store.
func (a *applier) recalled(p *partition, kind byte, id string) (dup *raftv1.SendOutcome, prior *raftv1.Dedup, err error) {
	if id == "" {
		return nil, nil, nil
	}
	d := &raftv1.Dedup{}
	found, err := getRecord(a.tx, dedupKey(p.id, kind, id), d)
	if err != nil || !found {
		return nil, nil, err
	}
	if d.ExpiresAtMs <= a.now {
		return nil, d, nil
	}
	return &raftv1.SendOutcome{MessageId: d.MessageId, Seq: d.Seq, Duplicate: true}, d, nil
}

// rememberRequest records that the send with request id id stored (or was a
// duplicate of) the message messageID at seq; nothing when id is empty.
// prior is what recalled found of id.
func (a *applier) rememberRequest(p *partition, id string, prior *raftv1.Dedup, messageID string, seq uint64) error {
	if id == "" {
		return nil
	}
	return a.remember(p, dedupRequest, id, prior, &raftv1.StoredMessage{MessageId: messageID, Seq: seq}, dedupWindowMs)
}

func rejected(format string, args ...any) *raftv1.SendOutcome {
	return &raftv1.SendOutcome{Status: status(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, format, args...)}
}

// remember records a deduplication id for windowMs, replacing prior, the
// record recalled found (nil when there was none).
func (a *applier) remember(p *partition, kind byte, id string, prior *raftv1.Dedup, m *raftv1.StoredMessage, windowMs int64) error {
	if prior != nil {
		if err := a.tx.Delete(dedupExpiryKey(p.id, prior.ExpiresAtMs, kind, id)); err != nil {
			return err
		}
	}
	d := &raftv1.Dedup{MessageId: m.MessageId, Seq: m.Seq, ExpiresAtMs: a.now + windowMs}
	if err := a.file(p, pDedupExp, dedupExpiryKey(p.id, d.ExpiresAtMs, kind, id), nil); err != nil {
		return err
	}
	return putRecord(a.tx, dedupKey(p.id, kind, id), d)
}

package validate

import (
	"strconv"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// QueueCommand checks a queue shard command against the API limits and the
// clock horizon, as the queue shard's Apply does before applying it: a node
// builds commands only from checked requests, so a command that fails here
// was forged or corrupted, and Apply refuses it whole rather than store
// what the API promises never to store. The error names the field by its
// path in the command ("send.entries[2].body").
//
// Only what a command's own fields can prove is checked: the check is pure,
// so every replica, now or replaying the log years later, reaches the same
// verdict. What depends on the shard's state (does the partition belong to
// that queue, is the lease current) is Apply's business.
func QueueCommand(cmd *raftv1.QueueCommand) error {
	if err := Clock("now_ms", cmd.GetNowMs()); err != nil {
		return err
	}
	switch op := cmd.GetOp().(type) {
	case *raftv1.QueueCommand_Send:
		return sendCommand("send.", op.Send)
	case *raftv1.QueueCommand_Receive:
		return receiveCommand("receive.", op.Receive)
	case *raftv1.QueueCommand_ChangeVisibility:
		for i, c := range op.ChangeVisibility.GetChanges() {
			if err := VisibilityTimeout("change_visibility.changes["+strconv.Itoa(i)+"].visibility_timeout_seconds", c.GetVisibilityTimeoutSeconds()); err != nil {
				return err
			}
		}
	case *raftv1.QueueCommand_ImportMessage:
		return importCommand("import_message.", op.ImportMessage)
	}
	// Deletes, purges, drops, ticks and outbox acks carry nothing but ids
	// and counts, which Apply checks as it uses them.
	return nil
}

// MaxClockMs is the latest time a command may carry: the last millisecond
// of the year 9999. Every time the queue shard works out (a send time plus
// a retention or a delay, a receive time plus a visibility timeout, each
// at most weeks) stays far below the largest int64 from there, so none can
// overflow.
const MaxClockMs = 253402300799999

// Clock checks a time in Unix milliseconds held in field: 0 to MaxClockMs.
func Clock(field string, ms int64) error {
	if ms < 0 || ms > MaxClockMs {
		return core.FieldError(field, "must be a time between 0 and %d (9999-12-31) in Unix milliseconds, got %d", int64(MaxClockMs), ms)
	}
	return nil
}

// maxMessageIDLength bounds a message id in a command; the node makes them
// (UUIDs, 36 characters).
const maxMessageIDLength = 128

func sendCommand(prefix string, s *raftv1.Send) error {
	cfg := s.GetPartition()
	if err := partitionConfig(prefix+"partition.", cfg); err != nil {
		return err
	}
	if n := len(s.GetEntries()); n < 1 || n > core.MaxBatchEntries {
		return core.FieldError(prefix+"entries", "must hold 1 to %d entries, got %d", core.MaxBatchEntries, n)
	}
	for i, e := range s.GetEntries() {
		p := prefix + EntryPrefix(i)
		if err := printable(p+"message_id", e.GetMessageId(), maxMessageIDLength); err != nil {
			return err
		}
		if e.GetMessageId() == "" {
			return core.FieldError(p+"message_id", "must not be empty")
		}
		if err := body(p, e.GetBody(), e.GetAttributes(), int(cfg.GetMaximumMessageBytes())); err != nil {
			return err
		}
		// -1 takes the queue's delay; FIFO queues have no per-message delay.
		if d := e.GetDelaySeconds(); d != -1 {
			if cfg.GetFifo() {
				return core.FieldError(p+"delay_seconds", "must be -1 (the queue's delay) on a FIFO queue, got %d", d)
			}
			b := delayBound
			b.field = p + b.field
			if err := b.check(d); err != nil {
				return err
			}
		}
		if err := groupAndDedup(p, cfg.GetFifo(), e.GetGroupId(), e.GetDeduplicationId()); err != nil {
			return err
		}
		if err := RequestID(p, e.GetRequestId()); err != nil {
			return err
		}
	}
	return nil
}

func receiveCommand(prefix string, r *raftv1.Receive) error {
	if err := partitionConfig(prefix+"partition.", r.GetPartition()); err != nil {
		return err
	}
	if n := r.GetMaxMessages(); n < 1 || n > core.MaxReceiveMessages {
		return core.FieldError(prefix+"max_messages", "must be between 1 and %d, got %d", core.MaxReceiveMessages, n)
	}
	if err := VisibilityTimeout(prefix+"visibility_timeout_seconds", r.GetVisibilityTimeoutSeconds()); err != nil {
		return err
	}
	return printable(prefix+"attempt_id", r.GetAttemptId(), core.MaxAttemptIDLength)
}

// importCommand checks a dead-letter move. The message passed the checks of
// its source queue, whose size limit may be larger than the target's, so
// only the API's overall limit applies to it.
func importCommand(prefix string, im *raftv1.ImportMessage) error {
	cfg := im.GetPartition()
	if err := partitionConfig(prefix+"partition.", cfg); err != nil {
		return err
	}
	m := im.GetMessage()
	p := prefix + "message."
	if m.GetMessageId() == "" {
		return core.FieldError(p+"message_id", "must not be empty")
	}
	if err := printable(p+"message_id", m.GetMessageId(), maxMessageIDLength); err != nil {
		return err
	}
	if err := body(p, m.GetBody(), m.GetAttributes(), core.MaxMaximumMessageBytes); err != nil {
		return err
	}
	if err := Clock(p+"sent_ms", m.GetSentMs()); err != nil {
		return err
	}
	if err := Clock(p+"first_receive_ms", m.GetFirstReceiveMs()); err != nil {
		return err
	}
	if n := m.GetReceiveCount(); n < 0 {
		return core.FieldError(p+"receive_count", "must not be negative, got %d", n)
	}
	return groupAndDedup(p, cfg.GetFifo(), m.GetGroupId(), m.GetDeduplicationId())
}

// partitionConfig checks the queue attributes a command carries for the
// partition it targets against the ranges CreateQueue and UpdateQueue
// enforce.
func partitionConfig(prefix string, cfg *raftv1.PartitionConfig) error {
	if cfg.GetQueueId() == 0 || cfg.GetPartitionId() == 0 {
		return core.FieldError(prefix+"partition_id", "the command names no partition (queue %d, partition %d)", cfg.GetQueueId(), cfg.GetPartitionId())
	}
	if err := QueueName(prefix+"queue_name", cfg.GetQueueName()); err != nil {
		return err
	}
	for _, c := range []struct {
		b bound
		v int32
	}{
		{visibilityBound, cfg.GetVisibilityTimeoutSeconds()},
		{retentionBound, cfg.GetMessageRetentionSeconds()},
		{delayBound, cfg.GetDelaySeconds()},
		{sizeBound, cfg.GetMaximumMessageBytes()},
	} {
		c.b.field = prefix + c.b.field
		if err := c.b.check(c.v); err != nil {
			return err
		}
	}
	if dl := cfg.GetDeadLetter(); dl != nil {
		if dl.GetQueueId() == 0 {
			return core.FieldError(prefix+"dead_letter.queue_id", "must not be 0")
		}
		b := receiveBound
		b.field = prefix + "dead_letter." + b.field
		if err := b.check(dl.GetMaxReceiveCount()); err != nil {
			return err
		}
	}
	return nil
}

// body checks a message body with its attributes, as SendEntry does: not
// empty, the characters SQS allows, at most maxBytes with the attributes.
func body(prefix, b string, attributes map[string]*wharfv1.MessageAttributeValue, maxBytes int) error {
	if b == "" {
		return core.FieldError(prefix+"body", "must not be empty")
	}
	if err := text(prefix+"body", b); err != nil {
		return err
	}
	attrBytes, err := messageAttributes(prefix, attributes)
	if err != nil {
		return err
	}
	if size := len(b) + attrBytes; size > maxBytes {
		return core.FieldError(prefix+"body", "message is %d bytes, the limit is %d", size, maxBytes)
	}
	return nil
}

// groupAndDedup checks a message's group and deduplication ids: printable,
// bounded, and present on a FIFO queue (the node fills the deduplication id
// in from the body when the queue deduplicates by content).
func groupAndDedup(prefix string, fifo bool, group, dedup string) error {
	if err := printable(prefix+"group_id", group, core.MaxGroupIDLength); err != nil {
		return err
	}
	if err := printable(prefix+"deduplication_id", dedup, core.MaxDedupIDLength); err != nil {
		return err
	}
	if fifo && group == "" {
		return core.FieldError(prefix+"group_id", "required on a FIFO queue")
	}
	if fifo && dedup == "" {
		return core.FieldError(prefix+"deduplication_id", "required on a FIFO queue")
	}
	return nil
}

package queue

import (
	"encoding/binary"

	"github.com/pingcap/failpoint"

	"github.com/wharfmq/wharf/core/mutants"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Dead-letter moves cross shards, so they go through an outbox: the receive
// that finds a message received too often removes it and writes an outbox
// entry in one Apply; the leader then imports the entry into the dead-letter
// queue (idempotently, keyed by source partition and seq) and acknowledges
// it. A crash between the two repeats the import, which is then a duplicate:
// the message moves exactly once.

func (a *applier) moveToOutbox(p *partition, m *raftv1.StoredMessage) error {
	failpoint.Inject(mutants.QueueDLQDuplicate, func() {
		// Leaves m in the source, in flight for the queue's visibility
		// timeout, and writes the outbox entry all the same.
		if err := a.unfile(p, m); err != nil {
			failpoint.Return(err)
		}
		if err := a.putInFlight(p, m, a.now+int64(p.cfg.VisibilityTimeoutSeconds)*1000); err != nil {
			failpoint.Return(err)
		}
		failpoint.Return(a.writeOutbox(p, m))
	})
	if err := a.remove(p, m); err != nil {
		return err
	}
	failpoint.Inject(mutants.QueueDLQDrop, func() {
		failpoint.Return(nil)
	})
	return a.writeOutbox(p, m)
}

// writeOutbox records the dead-letter move of m, which has left p.
func (a *applier) writeOutbox(p *partition, m *raftv1.StoredMessage) error {
	a.shard.NextOutboxId++
	e := &raftv1.OutboxEntry{
		OutboxId:          a.shard.NextOutboxId,
		SourcePartitionId: p.id,
		Target:            p.cfg.DeadLetter,
		Message:           m,
	}
	a.outbox = true
	return putRecord(a.tx, outboxKey(e.OutboxId), e)
}

func (a *applier) importMessage(cmd *raftv1.ImportMessage) error {
	if cmd.Message == nil || cmd.SourcePartitionId == 0 {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "import names no message")
		return nil
	}
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	id := string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, cmd.SourcePartitionId), cmd.SourceSeq))
	dup, prior, err := a.recalled(p, dedupImport, id)
	if err != nil {
		return err
	}
	if dup != nil {
		a.res.Sent = append(a.res.Sent, dup)
		return a.savePartition(p)
	}
	src := cmd.Message
	m := &raftv1.StoredMessage{
		MessageId:       src.MessageId,
		Seq:             p.st.NextSeq,
		Body:            src.Body,
		Attributes:      src.Attributes,
		SentMs:          src.SentMs, // retention counts from the original send, as in SQS
		GroupId:         src.GroupId,
		DeduplicationId: src.DeduplicationId,
	}
	if p.st.Fifo && m.GroupId == "" {
		m.GroupId = "dead-letter"
	}
	p.st.NextSeq++
	if err := a.insert(p, m, 0); err != nil {
		return err
	}
	if err := a.remember(p, dedupImport, id, prior, m, importDedupWindow); err != nil {
		return err
	}
	a.res.Sent = append(a.res.Sent, &raftv1.SendOutcome{MessageId: m.MessageId, Seq: m.Seq})
	return a.savePartition(p)
}

// maxAckOutbox bounds the ids one AckOutbox may carry.
const maxAckOutbox = 1024

func (a *applier) ackOutbox(cmd *raftv1.AckOutbox) error {
	if len(cmd.OutboxIds) > maxAckOutbox {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "an outbox ack holds at most %d ids", maxAckOutbox)
		return nil
	}
	for _, id := range cmd.OutboxIds {
		if err := a.tx.Delete(outboxKey(id)); err != nil {
			return err
		}
	}
	// Raise the outbox floor past the entries now gone (bounded: acks are
	// mostly in order, and a floor that lags is only slower, never wrong).
	st := a.shard
	for steps := 0; steps <= 2*len(cmd.OutboxIds) && st.OutboxFloor <= st.NextOutboxId; steps++ {
		if _, pending, err := a.tx.Get(outboxKey(st.OutboxFloor)); err != nil || pending {
			return err
		}
		st.OutboxFloor++
	}
	return nil
}

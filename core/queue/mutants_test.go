package queue

import (
	"fmt"
	"testing"

	"github.com/wharfmq/wharf/core/mutants"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Each planted bug of this package (see core/mutants) has a scenario that
// returns nil on correct code and an error naming what went wrong otherwise.
// TestMutant runs every scenario with its bug off (the scenario holds on the
// real state machine) and, in a tree rewritten by `make failpoints-enable`,
// with its bug on (the scenario must then fail: the bug is observable).
// `make test-mutants-unit` does both.

var mutantScenarios = map[string]func(s *shard) error{
	mutants.QueueAcceptStaleHandle:  scenarioStaleHandle,
	mutants.QueueIgnoreVisibility:   scenarioVisibility,
	mutants.QueueFIFOSkipHead:       scenarioFIFOHead,
	mutants.QueueForgetDedup:        scenarioFIFODedup,
	mutants.QueueForgetRequestID:    scenarioRequestID,
	mutants.QueueDLQDuplicate:       scenarioDeadLetter,
	mutants.QueueDLQDrop:            scenarioDeadLetter,
	mutants.QueueDeleteWrongMessage: scenarioDeleteWrong,
}

func TestMutant(t *testing.T) {
	rewritten := mutants.Rewritten(".")
	for _, m := range mutants.All {
		if m.Package != "github.com/wharfmq/wharf/core/queue" {
			continue
		}
		scenario := mutantScenarios[m.Name]
		if scenario == nil {
			t.Errorf("planted bug %s has no scenario", m.Name)
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			t.Run("off", func(t *testing.T) {
				if err := scenario(mutantShard(t)); err != nil {
					t.Fatalf("the scenario fails on correct code: %v", err)
				}
			})
			t.Run("on", func(t *testing.T) {
				if !rewritten {
					t.Skip("core/queue is not rewritten by failpoint-ctl; run make test-mutants-unit")
				}
				if err := mutants.Enable(m.Name); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := mutants.Disable(m.Name); err != nil {
						t.Error(err)
					}
				}()
				err := scenario(mutantShard(t))
				if err == nil {
					t.Fatalf("planted bug %s (%s) is not observable: the scenario passes", m.Name, m.What)
				}
				t.Logf("caught: %v", err)
			})
		})
	}
}

// mutantShard is a test shard whose scenario checks invariants itself, so
// that a broken invariant is the scenario's error rather than a fatal one.
func mutantShard(t *testing.T) *shard {
	s := newShard(t)
	s.skipChecks = true
	return s
}

func invariants(s *shard) error {
	if err := CheckInvariants(s.db); err != nil {
		return fmt.Errorf("invariants: %w", err)
	}
	return nil
}

// A handle from an earlier receive is stale once the message was received
// again: deleting with it must fail and leave the message.
func scenarioStaleHandle(s *shard) error {
	q := standardQueue(1)
	s.send(q, entry("a"))
	first := s.receive(q, 1, 1)
	s.advance(2)
	second := s.receive(q, 1, 30)
	if len(first) != 1 || len(second) != 1 {
		return fmt.Errorf("receives got %d and %d messages, want 1 and 1", len(first), len(second))
	}
	if st := s.del(q, leaseOf(first[0]))[0]; codeOf(st) != raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
		return fmt.Errorf("delete with a stale handle: %v, want failed_precondition", st)
	}
	if st := s.change(q, leaseOf(first[0]), 0); codeOf(st) != raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
		return fmt.Errorf("visibility change with a stale handle: %v, want failed_precondition", st)
	}
	if _, f, _ := s.counts(q); f != 1 {
		return fmt.Errorf("%d messages in flight, want 1 (the second lease's)", f)
	}
	return invariants(s)
}

// A leased message is not delivered again before its visibility timeout.
func scenarioVisibility(s *shard) error {
	for _, q := range []*raftv1.PartitionConfig{standardQueue(1), fifoQueue(2)} {
		if q.Fifo {
			s.send(q, fifoEntry("g", "a"))
		} else {
			s.send(q, entry("a"))
		}
		if got := s.receive(q, 1, 30); len(got) != 1 {
			return fmt.Errorf("%s: first receive got %d messages", q.QueueName, len(got))
		}
		s.advance(10)
		if got := s.receive(q, 10, 30); len(got) != 0 {
			return fmt.Errorf("%s: message %s delivered again 10s into a 30s lease", q.QueueName, got[0].MessageId)
		}
	}
	return invariants(s)
}

// A FIFO group is delivered from its head, in order.
func scenarioFIFOHead(s *shard) error {
	q := fifoQueue(1)
	s.send(q, fifoEntry("g", "a"), fifoEntry("g", "b"), fifoEntry("g", "c"))
	got := bodies(s.receive(q, 10, 30))
	if fmt.Sprint(got) != "[a b c]" {
		return fmt.Errorf("FIFO receive delivered %v, want [a b c]", got)
	}
	return invariants(s)
}

// A FIFO resend with the same deduplication id is a duplicate.
func scenarioFIFODedup(s *shard) error {
	q := fifoQueue(1)
	e := fifoEntry("g", "a")
	s.send(q, e)
	again := fifoEntry("g", "a")
	again.DeduplicationId = e.DeduplicationId
	res := s.send(q, again)
	if out := res.Sent[0]; !out.Duplicate || out.MessageId != e.MessageId {
		return fmt.Errorf("resend with deduplication id %s stored again: %v", e.DeduplicationId, out)
	}
	if v, _, _ := s.counts(q); v != 1 {
		return fmt.Errorf("%d messages stored, want 1", v)
	}
	return invariants(s)
}

// A send retried with the same request id is a duplicate.
func scenarioRequestID(s *shard) error {
	q := standardQueue(1)
	e := entry("a")
	e.RequestId = "request-1"
	s.send(q, e)
	retry := entry("a")
	retry.RequestId = e.RequestId
	res := s.send(q, retry)
	if out := res.Sent[0]; !out.Duplicate || out.MessageId != e.MessageId {
		return fmt.Errorf("retry of request %s stored again: %v", e.RequestId, out)
	}
	if v, _, _ := s.counts(q); v != 1 {
		return fmt.Errorf("%d messages stored, want 1", v)
	}
	return invariants(s)
}

// A message received max_receive_count times leaves its queue for the
// outbox, exactly once.
func scenarioDeadLetter(s *shard) error {
	src, dlq := standardQueue(1), standardQueue(2)
	src.DeadLetter = &raftv1.DeadLetterTarget{QueueId: dlq.QueueId, QueueName: dlq.QueueName, MaxReceiveCount: 1}
	e := entry("poison")
	s.send(src, e)
	if got := s.receive(src, 1, 1); len(got) != 1 {
		return fmt.Errorf("first receive got %d messages", len(got))
	}
	s.advance(2)
	if got := s.receive(src, 1, 1); len(got) != 0 {
		return fmt.Errorf("delivered past max_receive_count: %v", bodies(got))
	}
	if v, f, d := s.counts(src); v+f+d != 0 {
		return fmt.Errorf("moved message still in the source (visible %d, in flight %d, delayed %d)", v, f, d)
	}
	box, err := Outbox(s.db, 10)
	if err != nil {
		return err
	}
	if len(box) != 1 || box[0].GetMessage().GetMessageId() != e.MessageId {
		return fmt.Errorf("outbox holds %d entries, want the moved message once", len(box))
	}
	s.advance(60)
	s.tick()
	if got := s.receive(src, 10, 30); len(got) != 0 {
		return fmt.Errorf("moved message delivered from the source: %v", bodies(got))
	}
	if box, _ := Outbox(s.db, 10); len(box) != 1 {
		return fmt.Errorf("outbox holds %d entries after another receive, want 1", len(box))
	}
	return invariants(s)
}

// A delete removes the message its handle names, and only that one.
func scenarioDeleteWrong(s *shard) error {
	q := standardQueue(1)
	s.send(q, entry("a"), entry("b"))
	got := s.receive(q, 1, 30)
	if len(got) != 1 || got[0].Body != "a" {
		return fmt.Errorf("receive got %v, want [a]", bodies(got))
	}
	if st := s.del(q, leaseOf(got[0]))[0]; st.GetCode() != raftv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return fmt.Errorf("delete: %v", st)
	}
	if v, f, _ := s.counts(q); v != 1 || f != 0 {
		return fmt.Errorf("after deleting a: %d visible, %d in flight; want b visible and nothing in flight", v, f)
	}
	if rest := bodies(s.receive(q, 10, 30)); fmt.Sprint(rest) != "[b]" {
		return fmt.Errorf("after deleting a, the queue delivers %v, want [b]", rest)
	}
	return invariants(s)
}

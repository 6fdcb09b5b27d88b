package queue

import (
	"fmt"
	"slices"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

func TestFIFOOrderWithinGroup(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	s.send(q, fifoEntry("g", "g1"), fifoEntry("h", "h1"), fifoEntry("g", "g2"), fifoEntry("g", "g3"), fifoEntry("h", "h2"))

	// One receive takes a group's messages in order, then the next group.
	got := s.receive(q, 2, 30)
	if want := []string{"g1", "g2"}; !slices.Equal(bodies(got), want) {
		t.Fatalf("first receive %v, want %v", bodies(got), want)
	}
	// While g has messages in flight, g3 waits; h is served.
	got2 := s.receive(q, 10, 30)
	if want := []string{"h1", "h2"}; !slices.Equal(bodies(got2), want) {
		t.Fatalf("second receive %v, want %v", bodies(got2), want)
	}
	if got := s.receive(q, 10, 30); len(got) != 0 {
		t.Fatalf("a group with messages in flight was served: %v", bodies(got))
	}
	// Deleting one of two in-flight messages keeps the group blocked.
	s.del(q, leaseOf(got[0]))
	if got := s.receive(q, 10, 30); len(got) != 0 {
		t.Fatalf("group served with g2 still in flight: %v", bodies(got))
	}
	s.del(q, leaseOf(got[1]))
	if got := s.receive(q, 10, 30); !slices.Equal(bodies(got), []string{"g3"}) {
		t.Fatalf("after deleting g1, g2: %v", bodies(got))
	}
}

func TestFIFORedeliveryKeepsOrder(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	s.send(q, fifoEntry("g", "1"), fifoEntry("g", "2"), fifoEntry("g", "3"))
	first := s.receive(q, 2, 30)
	s.del(q, leaseOf(first[0]))
	s.advance(30) // "2" comes back before "3"
	got := s.receive(q, 10, 30)
	if want := []string{"2", "3"}; !slices.Equal(bodies(got), want) {
		t.Fatalf("got %v, want %v", bodies(got), want)
	}
	if got[0].ReceiveCount != 2 || got[1].ReceiveCount != 1 {
		t.Fatalf("receive counts %d, %d", got[0].ReceiveCount, got[1].ReceiveCount)
	}
	// Making "2" visible again releases the group, in order.
	s.change(q, leaseOf(got[0]), 0)
	s.change(q, leaseOf(got[1]), 0)
	if got := s.receive(q, 10, 30); !slices.Equal(bodies(got), []string{"2", "3"}) {
		t.Fatalf("after visibility 0: %v", bodies(got))
	}
}

func TestFIFODelayHoldsBackTheGroup(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	q.DelaySeconds = 10
	s.send(q, fifoEntry("g", "1"))
	q.DelaySeconds = 0
	s.send(q, fifoEntry("g", "2"), fifoEntry("h", "h"))
	if got := s.receive(q, 10, 30); !slices.Equal(bodies(got), []string{"h"}) {
		t.Fatalf("got %v: a message behind a delayed one in its group was served", bodies(got))
	}
	s.advance(10)
	s.tick()
	if got := s.receive(q, 10, 30); !slices.Equal(bodies(got), []string{"1", "2"}) {
		t.Fatalf("after the delay: %v", bodies(got))
	}
}

func TestFIFODeduplication(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	e := fifoEntry("g", "a")
	first := s.send(q, e).Sent[0]
	dup := fifoEntry("g", "a again")
	dup.DeduplicationId = e.DeduplicationId
	s.advance(299)
	again := s.send(q, dup).Sent[0]
	if !again.Duplicate || again.MessageId != first.MessageId || again.Seq != first.Seq {
		t.Fatalf("duplicate within 5 minutes: %v, first %v", again, first)
	}
	if v, _, _ := s.counts(q); v != 1 {
		t.Fatalf("duplicate stored: %d visible", v)
	}
	s.advance(1)
	s.tick()
	late := s.send(q, dup).Sent[0]
	if late.Duplicate || late.Seq == first.Seq {
		t.Fatalf("send after the window: %v", late)
	}
	// A deleted message's id still deduplicates within the window.
	s.advance(1)
	got := s.receive(q, 10, 30)
	s.del(q, leaseOf(got[0]), leaseOf(got[1]))
	if res := s.send(q, dup).Sent[0]; !res.Duplicate {
		t.Fatalf("send after delete within the window: %v", res)
	}
}

func TestFIFOReceiveAttempt(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	s.send(q, fifoEntry("g", "1"), fifoEntry("g", "2"), fifoEntry("h", "3"))
	r := &raftv1.Receive{Partition: q, MaxMessages: 2, VisibilityTimeoutSeconds: 60, AttemptId: "try-1"}
	first := messages(s.receiveCmd(r))
	s.advance(10)
	retry := messages(s.receiveCmd(r))
	if !slices.Equal(bodies(retry), bodies(first)) || retry[0].ReceiveCount != first[0].ReceiveCount {
		t.Fatalf("retry %v, first %v", bodies(retry), bodies(first))
	}
	// Another attempt id is a new receive.
	other := messages(s.receiveCmd(&raftv1.Receive{Partition: q, MaxMessages: 2, VisibilityTimeoutSeconds: 60, AttemptId: "try-2"}))
	if !slices.Equal(bodies(other), []string{"3"}) {
		t.Fatalf("second attempt %v", bodies(other))
	}
	// After 5 minutes the attempt is forgotten.
	s.advance(300)
	s.tick()
	late := messages(s.receiveCmd(r))
	if !slices.Equal(bodies(late), []string{"1", "2"}) || late[0].ReceiveCount != 2 {
		t.Fatalf("late retry %v", late)
	}
}

func TestDeadLetterMove(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		name := "standard"
		if fifo {
			name = "fifo"
		}
		t.Run(name, func(t *testing.T) {
			s := newShard(t)
			src, dlq := standardQueue(1), standardQueue(2)
			e := entry("poison")
			if fifo {
				src, dlq = fifoQueue(1), fifoQueue(2)
				e = fifoEntry("g", "poison")
			}
			src.DeadLetter = &raftv1.DeadLetterTarget{QueueId: dlq.QueueId, QueueName: dlq.QueueName, MaxReceiveCount: 2}
			s.send(src, e)
			for i := 0; i < 2; i++ {
				if got := s.receive(src, 1, 1); len(got) != 1 {
					t.Fatalf("receive %d got %d messages", i+1, len(got))
				}
				s.advance(1)
			}
			// The third receive moves it instead of delivering it.
			if got := s.receive(src, 1, 1); len(got) != 0 {
				t.Fatalf("delivered past max_receive_count: %v", got)
			}
			if !s.out {
				t.Fatal("move did not report outbox work")
			}
			if v, f, d := s.counts(src); v+f+d != 0 {
				t.Fatal("moved message still in source")
			}
			box, err := Outbox(s.db, 10)
			if err != nil || len(box) != 1 || box[0].Message.Body != "poison" || box[0].Target.QueueId != dlq.QueueId {
				t.Fatalf("outbox %v %v", box, err)
			}
			imp := &raftv1.ImportMessage{Partition: dlq, SourcePartitionId: box[0].SourcePartitionId, SourceSeq: box[0].Message.Seq, Message: box[0].Message}
			for i := 0; i < 2; i++ { // the second import is a retry after a crash
				res := s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_ImportMessage{ImportMessage: imp}})
				if res.Sent[0].Duplicate != (i == 1) {
					t.Fatalf("import %d: %v", i, res.Sent[0])
				}
			}
			s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_AckOutbox{AckOutbox: &raftv1.AckOutbox{OutboxIds: []uint64{box[0].OutboxId}}}})
			if box, _ := Outbox(s.db, 10); len(box) != 0 {
				t.Fatal("outbox not emptied by ack")
			}
			got := s.receive(dlq, 10, 30)
			if len(got) != 1 || got[0].Body != "poison" || got[0].MessageId != e.MessageId || got[0].ReceiveCount != 1 {
				t.Fatalf("dead-letter queue holds %v", got)
			}
		})
	}
}

func TestFIFOEmptyReceiveAttemptIsNotRemembered(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	r := &raftv1.Receive{Partition: q, MaxMessages: 1, VisibilityTimeoutSeconds: 30, AttemptId: "poll"}
	if got := messages(s.receiveCmd(r)); len(got) != 0 {
		t.Fatalf("empty queue delivered %v", got)
	}
	s.send(q, fifoEntry("g", "late"))
	if got := messages(s.receiveCmd(r)); !slices.Equal(bodies(got), []string{"late"}) {
		t.Fatalf("the retried attempt got %v, want the message sent after the empty attempt", bodies(got))
	}
}

func TestInFlightLimit(t *testing.T) {
	s := newShard(t)
	s.skipChecks = true
	q := fifoQueue(1)
	// Each message in its own group, so that receives are not held back by
	// group order, only by the limit.
	for i := 0; i < maxInFlightFIFO+10; i += 10 {
		var batch []*raftv1.SendEntry
		for j := i; j < i+10; j++ {
			batch = append(batch, fifoEntry(fmt.Sprint(j), "m"))
		}
		s.send(q, batch...)
	}
	for i := 0; i < maxInFlightFIFO; i += 10 {
		if got := s.receive(q, 10, 300); len(got) != 10 {
			t.Fatalf("receive %d got %d messages", i/10, len(got))
		}
	}
	res := s.receiveCmd(&raftv1.Receive{Partition: q, MaxMessages: 10, VisibilityTimeoutSeconds: 300})
	if codeOf(res.Status) != raftv1.ErrorCode_ERROR_CODE_RESOURCE_EXHAUSTED || len(res.Delivered) != 0 {
		t.Fatalf("receive past the in-flight limit: %v, %d messages", res.Status, len(res.Delivered))
	}
	if err := CheckInvariants(s.db); err != nil {
		t.Fatal(err)
	}
	st, _ := Partition(s.db, q.PartitionId)
	if st.InFlight != maxInFlightFIFO || st.Visible != 10 {
		t.Fatalf("in flight %d, visible %d", st.InFlight, st.Visible)
	}
}

// An empty group's record stays for groupIdleMs, then a Tick deletes it; a
// group that got a message meanwhile keeps its record and leaves the idle
// index.
func TestFIFOIdleGroupRecordExpires(t *testing.T) {
	s := newShard(t)
	q := fifoQueue(1)
	p := q.PartitionId
	record := func(group string) *raftv1.GroupState {
		t.Helper()
		g := &raftv1.GroupState{}
		found, err := getRecord(s.db, groupKey(p, group), g)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return nil
		}
		return g
	}
	for _, g := range []string{"gone", "back"} {
		s.send(q, fifoEntry(g, g+"1"))
		m := s.receive(q, 1, 30)
		s.del(q, leaseOf(m[0]))
		if r := record(g); r == nil || r.IdleAtMs != s.now+groupIdleMs {
			t.Fatalf("group %s emptied: record %v, want one idle at %d", g, r, s.now+groupIdleMs)
		}
	}
	s.advance(30)
	s.send(q, fifoEntry("back", "back2"))
	s.tick()
	if record("gone") == nil {
		t.Fatal("a Tick before groupIdleMs deleted an idle group's record")
	}
	s.advance(31)
	s.tick()
	if r := record("gone"); r != nil {
		t.Fatalf("idle group's record survives its time: %v", r)
	}
	r := record("back")
	if r == nil || r.IdleAtMs != 0 || r.Messages != 1 {
		t.Fatalf("group with a message again: record %v, want kept, 1 message, not idle", r)
	}
	if got := s.receive(q, 10, 30); !slices.Equal(bodies(got), []string{"back2"}) {
		t.Fatalf("after the idle expiry: %v", bodies(got))
	}
}

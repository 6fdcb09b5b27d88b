package queue

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	ok    = raftv1.ErrorCode_ERROR_CODE_UNSPECIFIED
	stale = raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION
)

func TestSendReceiveDelete(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	res := s.send(q, entry("a"), entry("b"))
	if len(res.Sent) != 2 || res.Sent[0].Seq != 1 || res.Sent[1].Seq != 2 {
		t.Fatalf("sent %v", res.Sent)
	}
	if !slices.Contains(s.woken, q.PartitionId) {
		t.Fatal("a send of a visible message must wake long polls")
	}
	got := s.receive(q, 10, 30)
	if want := []string{"a", "b"}; !slices.Equal(bodies(got), want) {
		t.Fatalf("received %v, want %v", bodies(got), want)
	}
	m := got[0]
	if m.ReceiveCount != 1 || m.FirstReceiveMs != t0 || m.SentMs != t0 {
		t.Fatalf("receive count %d, first receive %d, sent %d", m.ReceiveCount, m.FirstReceiveMs, m.SentMs)
	}
	if v, f, d := s.counts(q); v != 0 || f != 2 || d != 0 {
		t.Fatalf("counts %d/%d/%d", v, f, d)
	}
	if st := s.del(q, leaseOf(m)); codeOf(st[0]) != ok {
		t.Fatalf("delete: %v", st[0])
	}
	// Deleting again succeeds: deletes are idempotent.
	if st := s.del(q, leaseOf(m)); codeOf(st[0]) != ok {
		t.Fatalf("second delete: %v", st[0])
	}
	if v, f, _ := s.counts(q); v != 0 || f != 1 {
		t.Fatalf("counts after delete %d/%d", v, f)
	}
	// The deleted message never comes back, the other one does.
	s.advance(31)
	got = s.receive(q, 10, 30)
	if want := []string{"b"}; !slices.Equal(bodies(got), want) {
		t.Fatalf("after timeout received %v, want %v", bodies(got), want)
	}
}

func TestVisibilityTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		visibility int32
		wait       float64
		redeliver  bool
	}{
		{"hidden while leased", 30, 29.999, false},
		{"visible when the lease ends", 30, 30, true},
		{"zero timeout is visible at once", 0, 0, true},
		{"12 hours", 43200, 43199, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShard(t)
			q := standardQueue(1)
			s.send(q, entry("a"))
			first := s.receive(q, 1, tc.visibility)
			s.advance(tc.wait)
			again := s.receive(q, 1, 30)
			if got := len(again) == 1; got != tc.redeliver {
				t.Fatalf("redelivered %v, want %v", got, tc.redeliver)
			}
			if tc.redeliver && (again[0].ReceiveCount != 2 || again[0].MessageId != first[0].MessageId) {
				t.Fatalf("redelivery %v", again[0])
			}
		})
	}
}

func TestReceiptHandles(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run receives, waits and re-receives, and returns the lease to try
		run  func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease
		want raftv1.ErrorCode
		gone bool // the message is deleted afterwards
	}{
		{"current handle", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			return leaseOf(s.receive(q, 1, 30)[0])
		}, ok, true},
		{"handle whose lease expired, not received since", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			l := leaseOf(s.receive(q, 1, 30)[0])
			s.advance(60)
			return l
		}, ok, true},
		{"handle whose lease passed to another receiver", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			l := leaseOf(s.receive(q, 1, 30)[0])
			s.advance(31)
			s.receive(q, 1, 30)
			return l
		}, stale, false},
		{"forged receive count", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			l := leaseOf(s.receive(q, 1, 30)[0])
			l.ReceiveCount = 7
			return l
		}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
		{"forged handle of a message never received", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			return &raftv1.Lease{Seq: 1, ReceiveCount: 1, Tag: 12345}
		}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
		{"stale receive count with its genuine tag", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			m := s.receive(q, 1, 30)[0]
			s.advance(31)
			s.receive(q, 1, 30)
			return leaseOf(m)
		}, stale, false},
		{"no receive count", func(s *shard, q *raftv1.PartitionConfig) *raftv1.Lease {
			l := leaseOf(s.receive(q, 1, 30)[0])
			l.ReceiveCount = 0
			return l
		}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShard(t)
			q := standardQueue(1)
			s.send(q, entry("a"))
			l := tc.run(s, q)
			if got := codeOf(s.del(q, l)[0]); got != tc.want {
				t.Fatalf("delete: %v, want %v", got, tc.want)
			}
			v, f, _ := s.counts(q)
			if gone := v+f == 0; gone != tc.gone {
				t.Fatalf("message gone %v, want %v", gone, tc.gone)
			}
		})
	}
}

func TestChangeVisibility(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  float64 // seconds after the receive
		seconds int32
		want    raftv1.ErrorCode
		// visibleAt: seconds after the change at which the message is visible again; -1 not checked
		visibleAt float64
	}{
		{"extend", 10, 100, ok, 100},
		{"shorten", 10, 5, ok, 5},
		{"zero makes it visible now", 10, 0, ok, 0},
		{"after the lease ended", 31, 10, stale, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShard(t)
			q := standardQueue(1)
			s.send(q, entry("a"))
			m := s.receive(q, 1, 30)[0]
			s.advance(tc.before)
			if got := codeOf(s.change(q, leaseOf(m), tc.seconds)); got != tc.want {
				t.Fatalf("change: %v, want %v", got, tc.want)
			}
			if tc.visibleAt < 0 {
				return
			}
			if tc.visibleAt > 0 {
				s.advance(tc.visibleAt - 0.001)
				if got := s.receive(q, 1, 30); len(got) != 0 {
					t.Fatal("visible before the new timeout")
				}
				s.advance(0.001)
			}
			if got := s.receive(q, 1, 30); len(got) != 1 {
				t.Fatal("not visible after the new timeout")
			}
		})
	}
	t.Run("stale handle", func(t *testing.T) {
		s := newShard(t)
		q := standardQueue(1)
		s.send(q, entry("a"))
		old := leaseOf(s.receive(q, 1, 30)[0])
		s.advance(31)
		s.receive(q, 1, 30)
		if got := codeOf(s.change(q, old, 0)); got != stale {
			t.Fatalf("change with stale handle: %v", got)
		}
		if _, f, _ := s.counts(q); f != 1 {
			t.Fatal("a stale handle changed the message")
		}
	})
	t.Run("deleted message", func(t *testing.T) {
		s := newShard(t)
		q := standardQueue(1)
		s.send(q, entry("a"))
		l := leaseOf(s.receive(q, 1, 30)[0])
		s.del(q, l)
		if got := codeOf(s.change(q, l, 10)); got != stale {
			t.Fatalf("change of deleted message: %v", got)
		}
	})
}

func TestDelay(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	q.DelaySeconds = 10
	own := entry("own delay")
	own.DelaySeconds = 5
	zero := entry("no delay")
	zero.DelaySeconds = 0
	s.send(q, entry("queue delay"), own, zero)
	if v, _, d := s.counts(q); v != 1 || d != 2 {
		t.Fatalf("visible %d delayed %d", v, d)
	}
	if got := bodies(s.receive(q, 10, 30)); !slices.Equal(got, []string{"no delay"}) {
		t.Fatalf("at 0 s got %v", got)
	}
	s.advance(5)
	s.tick() // Ticks make delayed messages visible without a receive.
	if v, _, d := s.counts(q); v != 1 || d != 1 {
		t.Fatalf("after 5 s visible %d delayed %d", v, d)
	}
	if got := bodies(s.receive(q, 10, 30)); !slices.Equal(got, []string{"own delay"}) {
		t.Fatalf("at 5 s got %v", got)
	}
	s.advance(5)
	if got := bodies(s.receive(q, 10, 30)); !slices.Equal(got, []string{"queue delay"}) {
		t.Fatalf("at 10 s got %v", got)
	}
}

func TestRetention(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	q.MessageRetentionSeconds = 60
	s.send(q, entry("old"))
	s.receive(q, 1, 3600) // in flight messages expire too
	s.advance(30)
	s.send(q, entry("young"))
	s.advance(30)
	s.tick()
	if v, f, _ := s.counts(q); v != 1 || f != 0 {
		t.Fatalf("after 60 s: visible %d in flight %d", v, f)
	}
	s.advance(30)
	if got := s.receive(q, 10, 30); len(got) != 0 {
		t.Fatalf("expired message received: %v", bodies(got))
	}
}

func TestDeliveryOrderIsEarliestVisibleFirst(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	s.send(q, entry("1"))
	s.advance(1)
	s.send(q, entry("2"))
	m1 := s.receive(q, 1, 10)[0] // "1" in flight until 11 s
	s.advance(1)
	s.send(q, entry("3")) // visible at 2 s
	s.advance(20)         // "1" visible again since 11 s
	s.send(q, entry("4")) // visible at 22 s
	got := bodies(s.receive(q, 10, 30))
	if want := []string{"2", "3", "1", "4"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	_ = m1
}

func TestPurge(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	s.send(q, entry("a"), entry("b"))
	l := leaseOf(s.receive(q, 1, 30)[0])
	d := entry("delayed")
	d.DelaySeconds = 100
	s.send(q, d)
	s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Purge{Purge: &raftv1.Purge{Partition: q}}})
	if v, f, dl := s.counts(q); v+f+dl != 0 {
		t.Fatalf("after purge %d/%d/%d", v, f, dl)
	}
	if st := s.del(q, l); codeOf(st[0]) != ok {
		t.Fatalf("delete of purged message: %v", st[0])
	}
	res := s.send(q, entry("after"))
	if res.Sent[0].Seq != 4 {
		t.Fatalf("sequence numbers must continue after a purge, got: %d", res.Sent[0].Seq)
	}
	s.advance(200)
	if got := bodies(s.receive(q, 10, 30)); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("after purge received %v", got)
	}
}

func TestDropPartition(t *testing.T) {
	s := newShard(t)
	q, other := standardQueue(1), standardQueue(2)
	s.send(q, entry("a"))
	s.send(other, entry("b"))
	s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_DropPartition{DropPartition: &raftv1.DropPartition{PartitionId: q.PartitionId}}})
	res := s.send(q, entry("late"))
	if codeOf(res.Status) != raftv1.ErrorCode_ERROR_CODE_NOT_FOUND {
		t.Fatalf("send to dropped partition: %v", res.Status)
	}
	if got := bodies(s.receive(other, 10, 30)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("other queue lost messages: %v", got)
	}
}

func TestShardClockIsMonotonic(t *testing.T) {
	s := newShard(t)
	q := standardQueue(1)
	s.send(q, entry("a"))
	s.receive(q, 1, 30)
	// A proposer whose clock is an hour behind cannot make the lease last longer.
	res := s.apply(&raftv1.QueueCommand{NowMs: t0 - 3600_000, Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: q, Entries: []*raftv1.SendEntry{entry("b")}}}})
	if res.AppliedMs != t0 {
		t.Fatalf("applied at %d, want the shard clock %d", res.AppliedMs, t0)
	}
	st, _ := ShardState(s.db)
	if st.ClockMs != t0 || st.AppliedIndex != s.index {
		t.Fatalf("shard state %v", st)
	}
}

func TestBadCommands(t *testing.T) {
	q := standardQueue(1)
	otherQueue := proto.CloneOf(q)
	otherQueue.QueueId = 99
	big := entry(string(make([]byte, 300*1024)))
	for _, tc := range []struct {
		name string
		cmd  *raftv1.QueueCommand
		want raftv1.ErrorCode
	}{
		{"no op", &raftv1.QueueCommand{}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"no partition", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Entries: []*raftv1.SendEntry{entry("a")}}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"empty send", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: q}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"receive 11", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{Partition: q, MaxMessages: 11}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"receive 0", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{Partition: q}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"negative visibility", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{Partition: q, MaxMessages: 1, VisibilityTimeoutSeconds: -1}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"empty delete", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_DeleteMessages{DeleteMessages: &raftv1.DeleteMessages{Partition: q}}}, raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"wrong queue id for partition", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: otherQueue, Entries: []*raftv1.SendEntry{entry("a")}}}}, raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShard(t)
			s.send(q, entry("seed"))
			if got := codeOf(s.apply(tc.cmd).Status); got != tc.want {
				t.Fatalf("status %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("body over the queue maximum", func(t *testing.T) {
		s := newShard(t)
		// Refused whole, as a forged command (the node never proposes it).
		res := s.send(q, big)
		if codeOf(res.Status) != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || len(res.Sent) != 0 {
			t.Fatalf("oversized body: %v", res)
		}
		if v, _, _ := s.counts(q); v != 0 {
			t.Fatal("oversized body stored")
		}
	})
}

func TestReplicasConverge(t *testing.T) {
	// Two replicas applying the same log end with identical stores.
	a, b := newShard(t), newShard(t)
	q, f := standardQueue(1), fifoQueue(2)
	for _, s := range []*shard{a, b} {
		nextID = 0
		s.send(q, entry("a"), entry("b"), entry("c"))
		s.send(f, fifoEntry("g", "1"), fifoEntry("g", "2"), fifoEntry("h", "3"))
		m := s.receive(q, 2, 5)
		s.del(q, leaseOf(m[0]))
		s.receive(f, 10, 5)
		s.advance(10)
		s.tick()
		s.receive(q, 10, 30)
	}
	ha, err := Hash(a.db)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := Hash(b.db)
	if ha != hb {
		t.Fatal("replicas diverged")
	}
}

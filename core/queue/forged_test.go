package queue

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// dump is every key and value of the store but the shard record (whose
// applied index every command moves).
func (s *shard) dump() map[string][]byte {
	s.t.Helper()
	it, err := s.db.Iter(nil, []byte{0xff})
	if err != nil {
		s.t.Fatal(err)
	}
	defer it.Close()
	out := map[string][]byte{}
	for ok := it.First(); ok; ok = it.Next() {
		if bytes.Equal(it.Key(), shardKey()) {
			continue
		}
		out[string(it.Key())] = bytes.Clone(it.Value())
	}
	return out
}

func (s *shard) clock() int64 {
	s.t.Helper()
	st, err := ShardState(s.db)
	if err != nil {
		s.t.Fatal(err)
	}
	return st.ClockMs
}

// Commands a node never proposes, as NodeService Propose let anyone make
// them (issue 11): each is refused whole, stores nothing and leaves the
// clock where it was, on every replica alike.
func TestForgedCommandsAreRefusedWhole(t *testing.T) {
	q, f := standardQueue(1), fifoQueue(2)
	// cfg returns a copy of q changed by change.
	cfg := func(base *raftv1.PartitionConfig, change func(*raftv1.PartitionConfig)) *raftv1.PartitionConfig {
		c := proto.CloneOf(base)
		change(c)
		return c
	}
	send := func(p *raftv1.PartitionConfig, e *raftv1.SendEntry) *raftv1.QueueCommand {
		return &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: p, Entries: []*raftv1.SendEntry{e}}}}
	}
	withEntry := func(change func(*raftv1.SendEntry)) *raftv1.SendEntry {
		e := entry("forged")
		change(e)
		return e
	}
	receive := func(r *raftv1.Receive) *raftv1.QueueCommand {
		return &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: r}}
	}
	importOf := func(change func(*raftv1.StoredMessage)) *raftv1.QueueCommand {
		m := &raftv1.StoredMessage{MessageId: "moved", Body: "moved", SentMs: t0}
		change(m)
		return &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ImportMessage{ImportMessage: &raftv1.ImportMessage{
			Partition: q, SourcePartitionId: 77, SourceSeq: 1, Message: m}}}
	}
	tick := func(now int64) *raftv1.QueueCommand {
		return &raftv1.QueueCommand{NowMs: now, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}}
	}
	for _, tc := range []struct {
		name, field string // field: the path the refusal names
		cmd         *raftv1.QueueCommand
	}{
		// The attacks of issue 11.
		{"3 MiB body under a forged 4 MiB limit", "send.partition.maximum_message_bytes",
			send(cfg(q, func(c *raftv1.PartitionConfig) { c.MaximumMessageBytes = 4 << 20 }), entry(strings.Repeat("x", 3<<20)))},
		{"3 MiB body", "send.entries[0].body", send(q, entry(strings.Repeat("x", 3<<20)))},
		{"empty body", "send.entries[0].body", send(q, entry(""))},
		{"delay of MaxInt32", "send.entries[0].delay_seconds", send(q, withEntry(func(e *raftv1.SendEntry) { e.DelaySeconds = math.MaxInt32 }))},
		{"tick at MaxInt64", "now_ms", tick(math.MaxInt64)},
		// The other fields a command carries.
		{"queue delay of MaxInt32", "send.partition.delay_seconds",
			send(cfg(q, func(c *raftv1.PartitionConfig) { c.DelaySeconds = math.MaxInt32 }), entry("a"))},
		{"retention of MaxInt32", "send.partition.message_retention_seconds",
			send(cfg(q, func(c *raftv1.PartitionConfig) { c.MessageRetentionSeconds = math.MaxInt32 }), entry("a"))},
		{"visibility over 12 hours", "receive.partition.visibility_timeout_seconds",
			receive(&raftv1.Receive{Partition: cfg(q, func(c *raftv1.PartitionConfig) { c.VisibilityTimeoutSeconds = 43201 }), MaxMessages: 1})},
		{"no queue name", "send.partition.queue_name", send(cfg(q, func(c *raftv1.PartitionConfig) { c.QueueName = "" }), entry("a"))},
		{"dead letter after 5000 receives", "receive.partition.dead_letter.max_receive_count",
			receive(&raftv1.Receive{Partition: cfg(q, func(c *raftv1.PartitionConfig) {
				c.DeadLetter = &raftv1.DeadLetterTarget{QueueId: 9, QueueName: "dlq", MaxReceiveCount: 5000}
			}), MaxMessages: 1})},
		{"body with a NUL", "send.entries[0].body", send(q, entry("a\x00b"))},
		{"11 attributes", "send.entries[0].attributes", send(q, withEntry(func(e *raftv1.SendEntry) {
			e.Attributes = map[string]*wharfv1.MessageAttributeValue{}
			for i := range 11 {
				e.Attributes[string(rune('a'+i))] = &wharfv1.MessageAttributeValue{DataType: "String", StringValue: "v"}
			}
		}))},
		{"no message id", "send.entries[0].message_id", send(q, withEntry(func(e *raftv1.SendEntry) { e.MessageId = "" }))},
		{"request id of 200 characters", "send.entries[0].request_id", send(q, withEntry(func(e *raftv1.SendEntry) { e.RequestId = strings.Repeat("r", 200) }))},
		{"FIFO send with its own delay", "send.entries[0].delay_seconds", send(f, withEntry(func(e *raftv1.SendEntry) {
			e.GroupId, e.DeduplicationId, e.DelaySeconds = "g", "d", 5
		}))},
		{"FIFO send without a group", "send.entries[0].group_id", send(f, withEntry(func(e *raftv1.SendEntry) { e.DeduplicationId = "d" }))},
		{"11 entries", "send.entries", &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: q,
			Entries: []*raftv1.SendEntry{entry("1"), entry("2"), entry("3"), entry("4"), entry("5"), entry("6"), entry("7"), entry("8"), entry("9"), entry("10"), entry("11")}}}}},
		{"receive visibility of MaxInt32", "receive.visibility_timeout_seconds",
			receive(&raftv1.Receive{Partition: q, MaxMessages: 1, VisibilityTimeoutSeconds: math.MaxInt32})},
		{"attempt id of 200 characters", "receive.attempt_id", receive(&raftv1.Receive{Partition: f, MaxMessages: 1, AttemptId: strings.Repeat("a", 200)})},
		{"change visibility to MaxInt32", "change_visibility.changes[0].visibility_timeout_seconds",
			&raftv1.QueueCommand{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: &raftv1.ChangeVisibility{Partition: q,
				Changes: []*raftv1.VisibilityChange{{Lease: &raftv1.Lease{Seq: 1, ReceiveCount: 1}, VisibilityTimeoutSeconds: math.MaxInt32}}}}}},
		{"import sent at MaxInt64", "import_message.message.sent_ms", importOf(func(m *raftv1.StoredMessage) { m.SentMs = math.MaxInt64 })},
		{"import of an empty body", "import_message.message.body", importOf(func(m *raftv1.StoredMessage) { m.Body = "" })},
		{"import of a 2 MiB body", "import_message.message.body", importOf(func(m *raftv1.StoredMessage) { m.Body = strings.Repeat("x", 2<<20) })},
		{"negative clock", "now_ms", tick(-1)},
		{"clock past the year 9999", "now_ms", tick(validate.MaxClockMs + 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShard(t)
			s.send(q, entry("seed"))
			s.send(f, fifoEntry("g", "seed"))
			before, clock := s.dump(), s.clock()
			s.advance(1)
			res := s.apply(tc.cmd)
			if codeOf(res.Status) != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
				t.Fatalf("status %v, want invalid argument", res.Status)
			}
			if !strings.Contains(res.Status.GetMessage(), tc.field) {
				t.Fatalf("refusal %q does not name %s", res.Status.GetMessage(), tc.field)
			}
			if len(res.Sent)+len(res.Delivered) != 0 {
				t.Fatalf("a refused command has outcomes: %v", res)
			}
			if after := s.dump(); !maps(before, after) {
				t.Fatal("a refused command changed the store")
			}
			if c := s.clock(); c != clock {
				t.Fatalf("a refused command moved the clock from %d to %d", clock, c)
			}
		})
	}
}

func maps(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// The clock rule (docs/design.md, "Time and ids"): the shard clock never
// goes back, goes forward as far as a command within the horizon says, and
// ignores a command past the horizon, which is refused.
func TestShardClockRule(t *testing.T) {
	q := standardQueue(1)
	q.MessageRetentionSeconds = 3600
	s := newShard(t)
	s.send(q, entry("old"))
	// A proposer whose clock is behind does not move the shard clock back.
	s.apply(&raftv1.QueueCommand{NowMs: t0 - 60_000, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}})
	if c := s.clock(); c != t0 {
		t.Fatalf("clock %d after a command from the past, want %d", c, t0)
	}
	// A refused far-future command leaves receives sane: a visible_at that
	// overflowed was negative.
	s.apply(&raftv1.QueueCommand{NowMs: math.MaxInt64, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}})
	m := s.receive(q, 1, 30)
	if len(m) != 1 || m[0].VisibleAtMs != t0+30_000 {
		t.Fatalf("receive after a refused MaxInt64 tick: %v", m)
	}
	// A jump of days, as when a cluster restarts after days down, is
	// taken: what expired meanwhile expires.
	s.advance(5 * 24 * 3600)
	s.tick()
	if c := s.clock(); c != s.now {
		t.Fatalf("clock %d after a 5-day jump, want %d", c, s.now)
	}
	if v, inFlight, d := s.counts(q); v+inFlight+d != 0 {
		t.Fatalf("a message past its retention outlived the jump: %d visible, %d in flight, %d delayed", v, inFlight, d)
	}
	// The horizon itself is a valid time.
	if res := s.apply(&raftv1.QueueCommand{NowMs: validate.MaxClockMs, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}}); res.Status != nil {
		t.Fatalf("tick at the horizon: %v", res.Status)
	}
}

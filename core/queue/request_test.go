package queue

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// reqSend is one entry of a send in a request-id scenario.
type reqSend struct {
	requestID string
	dedupID   string // FIFO only; "" gets a fresh one, so only the request id can match
}

// reqWant is what one entry must produce: a new message, labelled so later
// entries can name it, or a duplicate of the message with that label.
type reqWant struct {
	label string
	dup   bool
}

// reqStep is one Send command, after moving the clock (and ticking if asked).
type reqStep struct {
	advance float64 // seconds
	tick    bool
	other   bool // to the queue's second partition
	sends   []reqSend
	want    []reqWant
}

func sent(label string) reqWant  { return reqWant{label: label} }
func dupOf(label string) reqWant { return reqWant{label: label, dup: true} }

func TestRequestIDs(t *testing.T) {
	one := func(id string) []reqSend { return []reqSend{{requestID: id}} }
	common := []struct {
		name   string
		steps  []reqStep
		stored [2]int64 // messages in each partition at the end
		gone   []string // request ids the first partition must have forgotten
	}{
		{
			name: "retry within the window is a duplicate",
			steps: []reqStep{
				{sends: one("r1"), want: []reqWant{sent("A")}},
				{advance: 299.999, sends: one("r1"), want: []reqWant{dupOf("A")}},
			},
			stored: [2]int64{1, 0},
		},
		{
			name: "retry after the window, before a tick, is stored again",
			steps: []reqStep{
				{sends: one("r1"), want: []reqWant{sent("A")}},
				{advance: 300, sends: one("r1"), want: []reqWant{sent("B")}},
				{sends: one("r1"), want: []reqWant{dupOf("B")}},
			},
			stored: [2]int64{2, 0},
		},
		{
			name: "a tick after the window forgets the request id",
			steps: []reqStep{
				{sends: one("r1"), want: []reqWant{sent("A")}},
				{advance: 300, tick: true, sends: one("r2"), want: []reqWant{sent("B")}},
			},
			stored: [2]int64{2, 0},
			gone:   []string{"r1"},
		},
		{
			name: "partitions remember independently",
			steps: []reqStep{
				{sends: one("r1"), want: []reqWant{sent("A")}},
				{other: true, sends: one("r1"), want: []reqWant{sent("B")}},
				{other: true, sends: one("r1"), want: []reqWant{dupOf("B")}},
				{sends: one("r1"), want: []reqWant{dupOf("A")}},
			},
			stored: [2]int64{1, 1},
		},
		{
			name: "two entries of one batch sharing a request id",
			steps: []reqStep{
				{sends: []reqSend{{requestID: "r1"}, {requestID: "r2"}, {requestID: "r1"}},
					want: []reqWant{sent("A"), sent("B"), dupOf("A")}},
			},
			stored: [2]int64{2, 0},
		},
		{
			name: "no request id, no deduplication",
			steps: []reqStep{
				{sends: []reqSend{{}, {}}, want: []reqWant{sent("A"), sent("B")}},
				{sends: one(""), want: []reqWant{sent("C")}},
			},
			stored: [2]int64{3, 0},
		},
	}
	for _, fifo := range []bool{false, true} {
		for _, tc := range common {
			name := fmt.Sprintf("standard/%s", tc.name)
			if fifo {
				name = fmt.Sprintf("fifo/%s", tc.name)
			}
			t.Run(name, func(t *testing.T) {
				s, q, q2 := runRequestSteps(t, fifo, tc.steps)
				for i, cfg := range []*raftv1.PartitionConfig{q, q2} {
					if visible, _, _ := s.counts(cfg); visible != tc.stored[i] {
						t.Errorf("partition %d holds %d messages, want %d", i, visible, tc.stored[i])
					}
				}
				for _, id := range tc.gone {
					if s.remembers(q, dedupRequest, id) {
						t.Errorf("request id %q still remembered after its window and a tick", id)
					}
				}
			})
		}
	}
}

func TestRequestIDsFIFO(t *testing.T) {
	tests := []struct {
		name   string
		steps  []reqStep
		stored int64
	}{
		{
			// The request id decides first: the retry carries another
			// dedup id (a content-based one after an edit, say) yet gets
			// the first answer, and that dedup id is not taken.
			name: "request id before dedup id",
			steps: []reqStep{
				{sends: []reqSend{{"r1", "d1"}}, want: []reqWant{sent("A")}},
				{sends: []reqSend{{"r1", "d2"}}, want: []reqWant{dupOf("A")}},
				{sends: []reqSend{{"r3", "d2"}}, want: []reqWant{sent("B")}},
			},
			stored: 2,
		},
		{
			// A send that was a dedup-id duplicate remembers its request
			// id, so its retry gets the same answer after the dedup id
			// expired.
			name: "retry of a dedup-id duplicate outlives the dedup id",
			steps: []reqStep{
				{sends: []reqSend{{"r1", "d1"}}, want: []reqWant{sent("A")}},
				{advance: 200, sends: []reqSend{{"r2", "d1"}}, want: []reqWant{dupOf("A")}},
				{advance: 200, tick: true, sends: []reqSend{{"r2", "d1"}}, want: []reqWant{dupOf("A")}},
				{sends: []reqSend{{"r3", "d1"}}, want: []reqWant{sent("B")}},
			},
			stored: 2,
		},
		{
			name: "both ids match",
			steps: []reqStep{
				{sends: []reqSend{{"r1", "d1"}}, want: []reqWant{sent("A")}},
				{advance: 10, sends: []reqSend{{"r1", "d1"}}, want: []reqWant{dupOf("A")}},
			},
			stored: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, q, _ := runRequestSteps(t, true, tc.steps)
			if visible, _, _ := s.counts(q); visible != tc.stored {
				t.Errorf("queue holds %d messages, want %d", visible, tc.stored)
			}
		})
	}
}

// runRequestSteps runs steps against two partitions of one queue and checks
// each outcome: a new message has a fresh id and seq, a duplicate the id and
// seq of the message it names.
func runRequestSteps(t *testing.T, fifo bool, steps []reqStep) (s *shard, q, q2 *raftv1.PartitionConfig) {
	t.Helper()
	s = newShard(t)
	q = standardQueue(1)
	if fifo {
		q = fifoQueue(1)
	}
	q2 = cloneConfig(q)
	q2.PartitionId++
	byLabel := map[string]*raftv1.SendOutcome{}
	for i, st := range steps {
		s.advance(st.advance)
		if st.tick {
			s.tick()
		}
		var entries []*raftv1.SendEntry
		for j, snd := range st.sends {
			e := entry(fmt.Sprintf("step %d entry %d", i, j))
			if fifo {
				e = fifoEntry("g", e.Body)
				if snd.dedupID != "" {
					e.DeduplicationId = snd.dedupID
				}
			}
			e.RequestId = snd.requestID
			entries = append(entries, e)
		}
		target := q
		if st.other {
			target = q2
		}
		res := s.send(target, entries...)
		if res.Status != nil || len(res.Sent) != len(entries) {
			t.Fatalf("step %d: status %v, %d outcomes for %d entries", i, res.Status, len(res.Sent), len(entries))
		}
		for j, w := range st.want {
			out := res.Sent[j]
			if out.Status != nil {
				t.Fatalf("step %d entry %d: %v", i, j, out.Status)
			}
			if out.Duplicate != w.dup {
				t.Fatalf("step %d entry %d: duplicate %v, want %v", i, j, out.Duplicate, w.dup)
			}
			if !w.dup {
				if prev, ok := byLabel[w.label]; ok {
					t.Fatalf("test bug: label %q used twice (%v)", w.label, prev)
				}
				if out.MessageId != entries[j].MessageId {
					t.Fatalf("step %d entry %d: message id %q, want the entry's %q", i, j, out.MessageId, entries[j].MessageId)
				}
				byLabel[w.label] = out
				continue
			}
			first := byLabel[w.label]
			if first == nil {
				t.Fatalf("test bug: no message labelled %q", w.label)
			}
			if out.MessageId != first.MessageId || out.Seq != first.Seq {
				t.Fatalf("step %d entry %d: duplicate of %s/%d, want %s/%d (%s)",
					i, j, out.MessageId, out.Seq, first.MessageId, first.Seq, w.label)
			}
		}
	}
	return s, q, q2
}

func cloneConfig(c *raftv1.PartitionConfig) *raftv1.PartitionConfig {
	return proto.Clone(c).(*raftv1.PartitionConfig)
}

// remembers reports whether the partition holds a dedup record of kind for id.
func (s *shard) remembers(q *raftv1.PartitionConfig, kind byte, id string) bool {
	s.t.Helper()
	_, found, err := s.db.Get(dedupKey(q.PartitionId, kind, id))
	if err != nil {
		s.t.Fatal(err)
	}
	return found
}

func TestRequestIDsListsAppliedSends(t *testing.T) {
	s := newShard(t)
	q, f := standardQueue(1), fifoQueue(2)
	e := entry("a")
	e.RequestId = "req-standard"
	s.send(q, e)
	fe := fifoEntry("g", "b")
	fe.RequestId = "req-fifo"
	s.send(f, fe)
	s.send(q, entry("no request id"))
	ids, err := RequestIDs(s.db)
	if err != nil {
		t.Fatal(err)
	}
	// FIFO deduplication ids live in the same index and must not show up.
	if len(ids) != 2 || !ids["req-standard"] || !ids["req-fifo"] {
		t.Fatalf("request ids %v", ids)
	}
}

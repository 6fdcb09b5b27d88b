package queue

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wharfmq/wharf/core/kv"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// shard is a queue shard under test: a Pebble store in memory, a log index
// and a clock the test moves by hand.
type shard struct {
	t     *testing.T
	db    *kv.DB
	index uint64
	now   int64
	woken []uint64
	out   bool
	// skipChecks turns off the per-apply invariant scan, which is O(store)
	// and would make tests with tens of thousands of messages quadratic.
	skipChecks bool
}

const t0 = 1_700_000_000_000 // an arbitrary start time, in ms

func newShard(t *testing.T) *shard {
	t.Helper()
	db, err := kv.Open("shard", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &shard{t: t, db: db, now: t0}
}

func (s *shard) advance(seconds float64) { s.now += int64(seconds * 1000) }

// apply applies cmd stamped with the shard's current time, then checks the
// invariants of the whole store.
func (s *shard) apply(cmd *raftv1.QueueCommand) *raftv1.QueueResult {
	s.t.Helper()
	if cmd.NowMs == 0 {
		cmd.NowMs = s.now
	}
	tx := s.db.NewTxn()
	defer tx.Close()
	s.index++
	ap, err := Apply(tx, s.index, cmd)
	if err != nil {
		s.t.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(false); err != nil {
		s.t.Fatal(err)
	}
	if s.skipChecks {
		s.woken, s.out = ap.Woken, ap.Outbox
		return ap.Result
	}
	if err := CheckInvariants(s.db); err != nil {
		s.t.Fatalf("after %v: %v", cmd, err)
	}
	s.woken, s.out = ap.Woken, ap.Outbox
	return ap.Result
}

func standardQueue(id uint64) *raftv1.PartitionConfig {
	return &raftv1.PartitionConfig{
		QueueId: id, PartitionId: id + 1000, QueueName: fmt.Sprintf("q%d", id),
		VisibilityTimeoutSeconds: 30, MessageRetentionSeconds: 4 * 24 * 3600, MaximumMessageBytes: 256 * 1024,
	}
}

func fifoQueue(id uint64) *raftv1.PartitionConfig {
	c := standardQueue(id)
	c.Fifo = true
	c.QueueName += ".fifo"
	return c
}

var nextID int

func entry(body string) *raftv1.SendEntry {
	nextID++
	return &raftv1.SendEntry{MessageId: fmt.Sprintf("id-%d", nextID), Body: body, DelaySeconds: -1}
}

func fifoEntry(group, body string) *raftv1.SendEntry {
	e := entry(body)
	e.GroupId, e.DeduplicationId = group, e.MessageId
	return e
}

func (s *shard) send(q *raftv1.PartitionConfig, entries ...*raftv1.SendEntry) *raftv1.QueueResult {
	s.t.Helper()
	return s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: q, Entries: entries}}})
}

func (s *shard) receive(q *raftv1.PartitionConfig, max, visibility int32) []*raftv1.StoredMessage {
	s.t.Helper()
	res := s.receiveCmd(&raftv1.Receive{Partition: q, MaxMessages: max, VisibilityTimeoutSeconds: visibility})
	if res.Status != nil {
		s.t.Fatalf("receive: %v", res.Status)
	}
	return messages(res)
}

func (s *shard) receiveCmd(r *raftv1.Receive) *raftv1.QueueResult {
	s.t.Helper()
	return s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: r}})
}

func messages(res *raftv1.QueueResult) []*raftv1.StoredMessage {
	var out []*raftv1.StoredMessage
	for _, d := range res.Delivered {
		out = append(out, d.Message)
	}
	return out
}

func leaseOf(m *raftv1.StoredMessage) *raftv1.Lease {
	return &raftv1.Lease{Seq: m.Seq, ReceiveCount: m.ReceiveCount, Tag: LeaseTag(m.MessageId, m.ReceiveCount)}
}

func (s *shard) del(q *raftv1.PartitionConfig, leases ...*raftv1.Lease) []*raftv1.Status {
	s.t.Helper()
	res := s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_DeleteMessages{DeleteMessages: &raftv1.DeleteMessages{Partition: q, Leases: leases}}})
	if res.Status != nil {
		s.t.Fatalf("delete: %v", res.Status)
	}
	return res.Outcomes
}

func (s *shard) change(q *raftv1.PartitionConfig, l *raftv1.Lease, seconds int32) *raftv1.Status {
	s.t.Helper()
	res := s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: &raftv1.ChangeVisibility{
		Partition: q, Changes: []*raftv1.VisibilityChange{{Lease: l, VisibilityTimeoutSeconds: seconds}}}}})
	if res.Status != nil {
		s.t.Fatalf("change visibility: %v", res.Status)
	}
	return res.Outcomes[0]
}

func (s *shard) tick() {
	s.t.Helper()
	s.apply(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}})
}

func (s *shard) counts(q *raftv1.PartitionConfig) (visible, inFlight, delayed int64) {
	s.t.Helper()
	st, err := Partition(s.db, q.PartitionId)
	if err != nil {
		s.t.Fatal(err)
	}
	return st.GetVisible(), st.GetInFlight(), st.GetDelayed()
}

func bodies(ms []*raftv1.StoredMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func codeOf(st *raftv1.Status) raftv1.ErrorCode { return st.GetCode() }

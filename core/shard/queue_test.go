package shard

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/kv"
	"github.com/wharfmq/wharf/core/queue"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const t0 = 1_700_000_000_000

type hookLog struct {
	mu     sync.Mutex
	woken  []uint64
	outbox int
}

func (h *hookLog) hooks() QueueHooks {
	return QueueHooks{
		Woken: func(_ uint64, ps []uint64) {
			h.mu.Lock()
			h.woken = append(h.woken, ps...)
			h.mu.Unlock()
		},
		Outbox: func(uint64) {
			h.mu.Lock()
			h.outbox++
			h.mu.Unlock()
		},
	}
}

func openQueueSM(t *testing.T, fs vfs.FS, hooks QueueHooks) (*QueueSM, uint64) {
	t.Helper()
	s := NewQueueSM(QueueConfig{ShardID: 2, ReplicaID: 1, Dir: "queue/2", FS: fs, Hooks: hooks})
	idx, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, idx
}

func partition(id uint64) *raftv1.PartitionConfig {
	return &raftv1.PartitionConfig{
		QueueId: id, PartitionId: id + 100, QueueName: fmt.Sprintf("q%d", id),
		VisibilityTimeoutSeconds: 30, MessageRetentionSeconds: 3600, MaximumMessageBytes: 256 * 1024,
	}
}

func sendCmd(now int64, p *raftv1.PartitionConfig, bodies ...string) []byte {
	send := &raftv1.Send{Partition: p}
	for _, b := range bodies {
		send.Entries = append(send.Entries, &raftv1.SendEntry{MessageId: "id-" + b, Body: b, DelaySeconds: -1})
	}
	return mustMarshal(&raftv1.QueueCommand{NowMs: now, Op: &raftv1.QueueCommand_Send{Send: send}})
}

func receiveCmd(now int64, p *raftv1.PartitionConfig, max int32) []byte {
	return mustMarshal(&raftv1.QueueCommand{NowMs: now, Op: &raftv1.QueueCommand_Receive{
		Receive: &raftv1.Receive{Partition: p, MaxMessages: max, VisibilityTimeoutSeconds: 30},
	}})
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func result(t *testing.T, e sm.Entry) *raftv1.QueueResult {
	t.Helper()
	r := &raftv1.QueueResult{}
	if err := proto.Unmarshal(e.Result.Data, r); err != nil {
		t.Fatalf("entry %d result: %v", e.Index, err)
	}
	return r
}

// update applies cmds as one batch at the indexes after *index.
func update(t *testing.T, s *QueueSM, index *uint64, cmds ...[]byte) []sm.Entry {
	t.Helper()
	ents := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		*index++
		ents[i] = sm.Entry{Index: *index, Cmd: c}
	}
	out, err := s.Update(ents)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestQueueSMUpdateBatch(t *testing.T) {
	var h hookLog
	s, idx := openQueueSM(t, vfs.NewMem(), h.hooks())
	if idx != 0 {
		t.Fatalf("new store opened at index %d", idx)
	}
	p := partition(1)
	var index uint64
	out := update(t, s, &index,
		sendCmd(t0, p, "a", "b"),
		[]byte("\xff\xff not a command"),
		receiveCmd(t0+1, p, 10),
	)
	if r := result(t, out[0]); r.GetStatus().GetCode() != 0 || len(r.Sent) != 2 {
		t.Fatalf("send result = %v", r)
	}
	if r := result(t, out[1]); r.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("garbage entry result = %v", r)
	}
	r := result(t, out[2])
	if len(r.Delivered) != 2 || r.Delivered[0].Message.Body != "a" || r.Delivered[1].Message.Body != "b" {
		t.Fatalf("receive result = %v", r)
	}
	if len(h.woken) == 0 || h.woken[0] != p.PartitionId {
		t.Fatalf("woken = %v, want partition %d", h.woken, p.PartitionId)
	}

	st, err := s.Lookup(ShardStateQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*raftv1.ShardState); got.AppliedIndex != 3 || got.ClockMs != t0+1 {
		t.Fatalf("shard state = %v", got)
	}
	ps, err := s.Lookup(PartitionsQuery{PartitionIDs: []uint64{p.PartitionId, 999}})
	if err != nil {
		t.Fatal(err)
	}
	parts := ps.([]*raftv1.PartitionState)
	if len(parts) != 2 || parts[0].GetInFlight() != 2 || parts[0].GetVisible() != 0 || parts[1] != nil {
		t.Fatalf("partitions = %v", parts)
	}
	wake, err := s.Lookup(NextWakeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if w := wake.(int64); w != t0+1+30_000 {
		t.Fatalf("next wake = %d, want the lease expiry %d", w, t0+1+30_000)
	}
	ob, err := s.Lookup(OutboxQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(ob.([]*raftv1.OutboxEntry)) != 0 {
		t.Fatalf("outbox = %v", ob)
	}
	// An entry that does not decode still counts as applied.
	out = update(t, s, &index, []byte("\xff"))
	if r := result(t, out[0]); r.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("garbage entry result = %v", r)
	}
	st, _ = s.Lookup(ShardStateQuery{})
	if got := st.(*raftv1.ShardState).AppliedIndex; got != 4 {
		t.Fatalf("applied index after a garbage entry = %d, want 4", got)
	}
	if _, err := s.Lookup("what"); !errors.Is(err, ErrUnknownQuery) {
		t.Fatalf("unknown query err = %v", err)
	}
}

func TestQueueSMReopenKeepsAppliedIndex(t *testing.T) {
	fs := vfs.NewMem()
	s := NewQueueSM(QueueConfig{ShardID: 2, Dir: "q", FS: fs})
	if _, err := s.Open(nil); err != nil {
		t.Fatal(err)
	}
	var index uint64
	update(t, s, &index, sendCmd(t0, partition(1), "a"), sendCmd(t0, partition(1), "b"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ShardStateQuery{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup after close: %v", err)
	}
	s2 := NewQueueSM(QueueConfig{ShardID: 2, Dir: "q", FS: fs})
	idx, err := s2.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if idx != 2 {
		t.Fatalf("reopened at %d, want 2", idx)
	}
	ps, _ := s2.Lookup(PartitionsQuery{PartitionIDs: []uint64{101}})
	if v := ps.([]*raftv1.PartitionState)[0].GetVisible(); v != 2 {
		t.Fatalf("visible after reopen = %d", v)
	}
}

// contents lists every key/value in the store, the recovery marker included.
func contents(t *testing.T, db *kv.DB) []string {
	t.Helper()
	it, err := db.Iter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, fmt.Sprintf("%x=%x", it.Key(), it.Value()))
	}
	return out
}

func snapshotBytes(t *testing.T, s *QueueSM) []byte {
	t.Helper()
	ctx, err := s.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestQueueSMSnapshotRoundTrip(t *testing.T) {
	src, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	var index uint64
	// Enough messages for the recovery to need several write batches.
	body := string(bytes.Repeat([]byte("x"), 64<<10))
	for i := 0; i < 10; i++ {
		cmds := make([][]byte, 0, 11)
		for j := 0; j < 10; j++ {
			cmds = append(cmds, sendCmd(t0+int64(i), partition(uint64(j%3+1)), fmt.Sprintf("%d-%d-%s", i, j, body)))
		}
		cmds = append(cmds, receiveCmd(t0+int64(i), partition(1), 3))
		update(t, src, &index, cmds...)
	}
	data := snapshotBytes(t, src)
	// Updates after PrepareSnapshot are not in the snapshot.
	ctx, _ := src.PrepareSnapshot()
	update(t, src, &index, sendCmd(t0+100, partition(1), "late"))
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("snapshot includes an update made after PrepareSnapshot, or is not deterministic")
	}

	// The destination holds unrelated state that the recovery must replace.
	dst, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	var dindex uint64
	update(t, dst, &dindex, sendCmd(t0, partition(7), "stale"))
	if err := dst.RecoverFromSnapshot(bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	// Take back the "late" send so both stores hold the snapshot's state.
	src2, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	if err := src2.RecoverFromSnapshot(bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	want, got := contents(t, src2.db), contents(t, dst.db)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("recovered store differs: %d keys vs %d", len(got), len(want))
	}
	if !bytes.Equal(snapshotBytes(t, dst), data) {
		t.Fatal("snapshot of the recovered store differs from the original snapshot")
	}
	if err := queue.CheckInvariants(dst.db); err != nil {
		t.Fatal(err)
	}
	st, _ := dst.Lookup(ShardStateQuery{})
	if got := st.(*raftv1.ShardState).AppliedIndex; got != 110 {
		t.Fatalf("recovered applied index = %d, want 110", got)
	}
	// Applying on from the snapshot works.
	update(t, dst, &index, receiveCmd(t0+200, partition(2), 10))
}

func TestQueueSMRejectsCorruptSnapshot(t *testing.T) {
	src, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	var index uint64
	update(t, src, &index, sendCmd(t0, partition(1), "a", "b", "c"))
	data := snapshotBytes(t, src)

	// Small write batches, so that a corrupt stream is found after some
	// of it was already written.
	defer func(n int) { recoverBatchBytes = n }(recoverBatchBytes)
	recoverBatchBytes = 64

	cases := map[string][]byte{
		"truncated":  data[:len(data)-7],
		"flipped":    flip(data, len(data)/2),
		"bad header": flip(data, 0),
		"empty":      nil,
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			dst, _ := openQueueSM(t, fs, QueueHooks{})
			var dindex uint64
			update(t, dst, &dindex, sendCmd(t0, partition(7), "old"))
			if err := dst.RecoverFromSnapshot(bytes.NewReader(bad), nil); err == nil {
				t.Fatal("corrupt snapshot accepted")
			}
			if _, err := dst.Lookup(ShardStateQuery{}); !errors.Is(err, ErrRecovering) {
				t.Fatalf("lookup after failed recovery: %v", err)
			}
			// A restart after a failed (or interrupted) recovery starts empty.
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
			again, idx := openQueueSM(t, fs, QueueHooks{})
			if name == "bad header" || name == "empty" {
				// Rejected before touching the store: the old state stands.
				if idx != 1 {
					t.Fatalf("reopened at %d, want the old index 1", idx)
				}
				return
			}
			if idx != 0 {
				t.Fatalf("reopened at %d, want 0", idx)
			}
			if c := contents(t, again.db); len(c) != 0 {
				t.Fatalf("store not wiped: %v", c)
			}
		})
	}
}

func flip(data []byte, i int) []byte {
	out := append([]byte(nil), data...)
	out[i] ^= 0x40
	return out
}

func TestQueueSMSnapshotStops(t *testing.T) {
	src, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	var index uint64
	for i := 0; i < 3; i++ {
		bodies := make([]string, 10)
		for j := range bodies {
			bodies[j] = fmt.Sprintf("%d-%d", i, j)
		}
		update(t, src, &index, sendCmd(t0, partition(1), bodies...))
	}
	done := make(chan struct{})
	close(done)
	ctx, _ := src.PrepareSnapshot()
	// Few keys: the stop check may not trigger before the end, but when it
	// does the error is dragonboat's sentinel, unwrapped.
	if err := src.SaveSnapshot(ctx, &bytes.Buffer{}, done); err != nil && err != sm.ErrSnapshotStopped {
		t.Fatalf("save with closed done: %v", err)
	}
	data := snapshotBytes(t, src)
	dst, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	if err := dst.RecoverFromSnapshot(bytes.NewReader(data), done); err != sm.ErrSnapshotStopped {
		t.Fatalf("recover with closed done: %v", err)
	}
}

func TestDedup(t *testing.T) {
	if got := fmt.Sprint(dedup([]uint64{3, 1, 3, 2, 1})); got != "[3 1 2]" {
		t.Fatalf("dedup = %s", got)
	}
	long := make([]uint64, 200)
	for i := range long {
		long[i] = uint64(i % 7)
	}
	if got := fmt.Sprint(dedup(long)); got != "[0 1 2 3 4 5 6]" {
		t.Fatalf("dedup long = %s", got)
	}
}

func TestQueueSMLookupDuringClose(t *testing.T) {
	s := NewQueueSM(QueueConfig{ShardID: 2, Dir: "q", FS: vfs.NewMem()})
	if _, err := s.Open(nil); err != nil {
		t.Fatal(err)
	}
	var index uint64
	update(t, s, &index, sendCmd(t0, partition(1), "a"))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := s.Lookup(PartitionsQuery{PartitionIDs: []uint64{101}}); err != nil {
					if !errors.Is(err, ErrClosed) {
						errs <- err
					}
					return
				}
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// A forged command in a batch (issue 11: NodeService Propose took anyone's)
// is refused with a result naming the field, stores nothing and leaves the
// clock; the good commands around it apply.
func TestQueueSMRefusesForgedCommands(t *testing.T) {
	s, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	p := partition(1)
	forgedLimit := proto.CloneOf(p)
	forgedLimit.MaximumMessageBytes = 4 << 20
	var index uint64
	out := update(t, s, &index,
		sendCmd(t0, p, "a"),
		sendCmd(t0+1, forgedLimit, string(bytes.Repeat([]byte{'x'}, 3<<20))),
		mustMarshal(&raftv1.QueueCommand{NowMs: 1<<63 - 1, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}}),
		receiveCmd(t0+2, p, 10),
	)
	for i, field := range map[int]string{1: "send.partition.maximum_message_bytes", 2: "now_ms"} {
		r := result(t, out[i])
		if r.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || !bytes.Contains([]byte(r.GetStatus().GetMessage()), []byte(field)) {
			t.Fatalf("forged entry %d: result %v, want a refusal naming %s", i, r, field)
		}
	}
	r := result(t, out[3])
	if len(r.Delivered) != 1 || r.Delivered[0].Message.Body != "a" || r.Delivered[0].Message.VisibleAtMs != t0+2+30_000 {
		t.Fatalf("receive after the forged entries: %v", r)
	}
	st, err := s.Lookup(ShardStateQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*raftv1.ShardState); got.AppliedIndex != 4 || got.ClockMs != t0+2 {
		t.Fatalf("shard state = %v, want index 4 and clock %d", got, t0+2)
	}
}

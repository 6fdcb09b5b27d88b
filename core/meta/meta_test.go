package meta

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// Command builders keep the tables short.

func stdAttrs() *raftv1.QueueAttributes {
	return &raftv1.QueueAttributes{
		VisibilityTimeoutSeconds: 30,
		MessageRetentionSeconds:  345600,
		ReceiveWaitTimeSeconds:   0,
		MaximumMessageBytes:      262144,
	}
}

func fifoAttrs() *raftv1.QueueAttributes {
	a := stdAttrs()
	a.Fifo = true
	return a
}

func withDLQ(a *raftv1.QueueAttributes, dlq string) *raftv1.QueueAttributes {
	a.DeadLetterQueue = dlq
	a.MaxReceiveCount = 5
	return a
}

func withVisibility(a *raftv1.QueueAttributes, v int32) *raftv1.QueueAttributes {
	a.VisibilityTimeoutSeconds = v
	return a
}

func createCmd(now int64, name string, attrs *raftv1.QueueAttributes, partitions int32) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_CreateQueue{
		CreateQueue: &raftv1.CreateQueue{Name: name, Attributes: attrs, Partitions: partitions},
	}}
}

func updateCmd(now int64, name string, attrs *raftv1.QueueAttributes) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_UpdateQueue{
		UpdateQueue: &raftv1.UpdateQueue{Name: name, Attributes: attrs},
	}}
}

func deleteCmd(now int64, name string) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_DeleteQueue{
		DeleteQueue: &raftv1.DeleteQueue{Name: name},
	}}
}

// initCmd initializes a cluster of three nodes (1, 2, 3), replication
// factor 3, with queue shards 2 to queueShards+1.
func initCmd(now int64, queueShards int32) *raftv1.MetaCommand {
	return initClusterCmd(now, queueShards, 3, 1, 2, 3)
}

func initClusterCmd(now int64, queueShards, rf int32, nodeIDs ...uint64) *raftv1.MetaCommand {
	c := &raftv1.InitCluster{QueueShards: queueShards, ReplicationFactor: rf}
	for _, id := range nodeIDs {
		c.Nodes = append(c.Nodes, nodeRec(id))
	}
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_InitCluster{InitCluster: c}}
}

// nodeRec is node id's record as a node would send it: its addresses only.
func nodeRec(id uint64) *raftv1.NodeRecord {
	return &raftv1.NodeRecord{NodeId: id, RaftAddr: fmt.Sprintf("n%d:7000", id), ApiAddr: fmt.Sprintf("n%d:8000", id)}
}

// apply runs setup commands, failing the test if any of them fails.
func apply(t *testing.T, s *State, cmds ...*raftv1.MetaCommand) {
	t.Helper()
	for i, c := range cmds {
		if res := s.Apply(c); res.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
			t.Fatalf("setup command %d (%v): %v", i, c, res.GetStatus())
		}
	}
}

// checkStatus compares a result's status with the wanted code and a
// substring of the wanted message.
func checkStatus(t *testing.T, res *raftv1.MetaResult, code raftv1.ErrorCode, msg string) {
	t.Helper()
	if got := res.GetStatus().GetCode(); got != code {
		t.Fatalf("code = %v, want %v (message %q)", got, code, res.GetStatus().GetMessage())
	}
	if !strings.Contains(res.GetStatus().GetMessage(), msg) {
		t.Fatalf("message = %q, want it to contain %q", res.GetStatus().GetMessage(), msg)
	}
}

const ok = raftv1.ErrorCode_ERROR_CODE_UNSPECIFIED

func placements(pairs ...uint64) []*raftv1.Placement {
	var out []*raftv1.Placement
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, &raftv1.Placement{PartitionId: pairs[i], ShardId: pairs[i+1]})
	}
	return out
}

func TestCreateQueue(t *testing.T) {
	base := []*raftv1.MetaCommand{
		initCmd(1, 1),
		createCmd(2, "dlq", stdAttrs(), 1),       // queue 1, partition 2
		createCmd(3, "dlq.fifo", fifoAttrs(), 1), // queue 3, partition 4
		createCmd(4, "existing", stdAttrs(), 2),  // queue 5, partitions 6, 7
	}
	tests := []struct {
		name  string
		setup []*raftv1.MetaCommand // nil: base
		cmd   *raftv1.MetaCommand
		code  raftv1.ErrorCode
		msg   string
		want  *raftv1.QueueRecord // checked on success
	}{
		{
			name:  "first queue takes ids 1 and 2",
			setup: []*raftv1.MetaCommand{initCmd(1, 1)},
			cmd:   createCmd(100, "q", stdAttrs(), 1),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 1, Attributes: stdAttrs(), CreatedMs: 100, ModifiedMs: 100,
				Partitions: placements(2, 2)},
		},
		{
			name: "zero partitions means one",
			cmd:  createCmd(100, "q", stdAttrs(), 0),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 8, Attributes: stdAttrs(), CreatedMs: 100, ModifiedMs: 100,
				Partitions: placements(9, 2)},
		},
		{
			name: "negative partitions means one",
			cmd:  createCmd(100, "q", stdAttrs(), -3),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 8, Attributes: stdAttrs(), CreatedMs: 100, ModifiedMs: 100,
				Partitions: placements(9, 2)},
		},
		{
			name: "several partitions take consecutive ids",
			cmd:  createCmd(100, "q", stdAttrs(), 3),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 8, Attributes: stdAttrs(), CreatedMs: 100, ModifiedMs: 100,
				Partitions: placements(9, 2, 10, 2, 11, 2)},
		},
		{
			name: "too many partitions",
			cmd:  createCmd(100, "q", stdAttrs(), maxPartitions+1),
			code: codeInvalid,
			msg:  fmt.Sprintf("partitions: must be at most %d, got %d", maxPartitions, maxPartitions+1),
		},
		{
			name: "identical attributes return the existing queue",
			cmd:  createCmd(100, "existing", stdAttrs(), 1),
			want: &raftv1.QueueRecord{Name: "existing", QueueId: 5, Attributes: stdAttrs(), CreatedMs: 4, ModifiedMs: 4,
				Partitions: placements(6, 2, 7, 2)},
		},
		{
			name: "different attributes",
			cmd:  createCmd(100, "existing", withVisibility(stdAttrs(), 31), 1),
			code: codeAlreadyExists,
			msg:  `queue "existing" already exists with different attributes`,
		},
		{
			name:  "existing queue is found before the shard check",
			setup: []*raftv1.MetaCommand{initCmd(1, 1), createCmd(2, "q", stdAttrs(), 1)},
			cmd:   createCmd(100, "q", fifoAttrs(), 1),
			code:  codeAlreadyExists,
			msg:   `"q"`,
		},
		{
			name:  "no shards",
			setup: []*raftv1.MetaCommand{},
			cmd:   createCmd(100, "q", stdAttrs(), 1),
			code:  codePrecondition,
			msg:   "no queue shards",
		},
		{
			name: "missing dead-letter queue",
			cmd:  createCmd(100, "q", withDLQ(stdAttrs(), "x"), 1),
			code: codeInvalid,
			msg:  `redrive_policy.dead_letter_queue: queue "x" does not exist`,
		},
		{
			name: "standard queue with FIFO dead-letter queue",
			cmd:  createCmd(100, "q", withDLQ(stdAttrs(), "dlq.fifo"), 1),
			code: codeInvalid,
			msg:  `redrive_policy.dead_letter_queue: queue "dlq.fifo" is a FIFO queue`,
		},
		{
			name: "FIFO queue with standard dead-letter queue",
			cmd:  createCmd(100, "q.fifo", withDLQ(fifoAttrs(), "dlq"), 1),
			code: codeInvalid,
			msg:  `redrive_policy.dead_letter_queue: queue "dlq" is a standard queue`,
		},
		{
			name: "queue as its own dead-letter queue",
			cmd:  createCmd(100, "q", withDLQ(stdAttrs(), "q"), 1),
			code: codeInvalid,
			msg:  `own dead-letter queue`,
		},
		{
			name: "standard dead-letter queue",
			cmd:  createCmd(100, "q", withDLQ(stdAttrs(), "dlq"), 1),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 8, Attributes: withDLQ(stdAttrs(), "dlq"), CreatedMs: 100,
				ModifiedMs: 100, Partitions: placements(9, 2)},
		},
		{
			name: "FIFO dead-letter queue",
			cmd:  createCmd(100, "q.fifo", withDLQ(fifoAttrs(), "dlq.fifo"), 1),
			want: &raftv1.QueueRecord{Name: "q.fifo", QueueId: 8, Attributes: withDLQ(fifoAttrs(), "dlq.fifo"),
				CreatedMs: 100, ModifiedMs: 100, Partitions: placements(9, 2)},
		},
		{
			name: "empty name",
			cmd:  createCmd(100, "", stdAttrs(), 1),
			code: codeInvalid,
			msg:  "name",
		},
		{
			name: "missing attributes",
			cmd:  createCmd(100, "q", nil, 1),
			code: codeInvalid,
			msg:  "attributes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			setup := tt.setup
			if setup == nil {
				setup = base
			}
			apply(t, s, setup...)
			before, _ := s.Marshal()
			res := s.Apply(tt.cmd)
			checkStatus(t, res, tt.code, tt.msg)
			if tt.code != ok {
				// A failed command changes nothing but the clock.
				after := New()
				if err := after.Unmarshal(before); err != nil {
					t.Fatal(err)
				}
				after.clock = s.clock
				a, _ := after.Marshal()
				b, _ := s.Marshal()
				if !bytes.Equal(a, b) {
					t.Fatal("failed command changed the state")
				}
				return
			}
			if !proto.Equal(res.GetQueue(), tt.want) {
				t.Fatalf("queue = %v, want %v", res.GetQueue(), tt.want)
			}
			if got := s.Queue(tt.want.GetName()); !proto.Equal(got, tt.want) {
				t.Fatalf("Queue(%q) = %v, want %v", tt.want.GetName(), got, tt.want)
			}
		})
	}
}

func TestIdempotentCreateTakesNoIDs(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 1), createCmd(2, "q", stdAttrs(), 1))
	for range 3 {
		apply(t, s, createCmd(3, "q", stdAttrs(), 4))
	}
	apply(t, s, createCmd(4, "r", stdAttrs(), 1))
	if got := s.Queue("r").GetQueueId(); got != 3 {
		t.Fatalf("queue id after retried creates = %d, want 3", got)
	}
	if got := s.Queue("q").GetModifiedMs(); got != 2 {
		t.Fatalf("retried create changed modified_ms to %d", got)
	}
}

func TestMaxQueues(t *testing.T) {
	s := New()
	s.maxQueues = 3
	apply(t, s, initCmd(1, 1),
		createCmd(1, "a", stdAttrs(), 1), createCmd(1, "b", stdAttrs(), 1), createCmd(1, "c", stdAttrs(), 1))
	checkStatus(t, s.Apply(createCmd(2, "d", stdAttrs(), 1)), codeExhausted, "maximum of 3 queues")
	// Retrying a create that succeeded still succeeds when full.
	checkStatus(t, s.Apply(createCmd(2, "a", stdAttrs(), 1)), ok, "")
	apply(t, s, deleteCmd(3, "b"), createCmd(4, "d", stdAttrs(), 1))
}

func TestUpdateQueue(t *testing.T) {
	base := []*raftv1.MetaCommand{
		initCmd(1, 1),
		createCmd(10, "q", stdAttrs(), 1),         // queue 1, partition 2
		createCmd(10, "q.fifo", fifoAttrs(), 1),   // queue 3, partition 4
		createCmd(10, "dlq", stdAttrs(), 1),       // queue 5
		createCmd(10, "dlq.fifo", fifoAttrs(), 1), // queue 7
	}
	tests := []struct {
		name string
		cmd  *raftv1.MetaCommand
		code raftv1.ErrorCode
		msg  string
		want *raftv1.QueueRecord
	}{
		{
			name: "replaces attributes and sets modified_ms",
			cmd:  updateCmd(50, "q", withVisibility(stdAttrs(), 60)),
			want: &raftv1.QueueRecord{Name: "q", QueueId: 1, Attributes: withVisibility(stdAttrs(), 60), CreatedMs: 10,
				ModifiedMs: 50, Partitions: placements(2, 2)},
		},
		{
			name: "adds a redrive policy",
			cmd:  updateCmd(50, "q.fifo", withDLQ(fifoAttrs(), "dlq.fifo")),
			want: &raftv1.QueueRecord{Name: "q.fifo", QueueId: 3, Attributes: withDLQ(fifoAttrs(), "dlq.fifo"),
				CreatedMs: 10, ModifiedMs: 50, Partitions: placements(4, 2)},
		},
		{
			name: "unknown queue",
			cmd:  updateCmd(50, "nope", stdAttrs()),
			code: codeNotFound,
			msg:  `queue "nope" does not exist`,
		},
		{
			name: "standard to FIFO",
			cmd:  updateCmd(50, "q", fifoAttrs()),
			code: codeInvalid,
			msg:  "fifo",
		},
		{
			name: "FIFO to standard",
			cmd:  updateCmd(50, "q.fifo", stdAttrs()),
			code: codeInvalid,
			msg:  "fifo",
		},
		{
			name: "missing dead-letter queue",
			cmd:  updateCmd(50, "q", withDLQ(stdAttrs(), "x")),
			code: codeInvalid,
			msg:  `redrive_policy.dead_letter_queue: queue "x" does not exist`,
		},
		{
			name: "dead-letter queue of the other kind",
			cmd:  updateCmd(50, "q", withDLQ(stdAttrs(), "dlq.fifo")),
			code: codeInvalid,
			msg:  "same kind",
		},
		{
			name: "own dead-letter queue",
			cmd:  updateCmd(50, "q", withDLQ(stdAttrs(), "q")),
			code: codeInvalid,
			msg:  "own dead-letter queue",
		},
		{
			name: "missing attributes",
			cmd:  updateCmd(50, "q", nil),
			code: codeInvalid,
			msg:  "attributes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, base...)
			name := tt.cmd.GetUpdateQueue().GetName()
			old := proto.CloneOf(s.Queue(name))
			oldPtr := s.Queue(name)
			res := s.Apply(tt.cmd)
			checkStatus(t, res, tt.code, tt.msg)
			if tt.code != ok {
				if !proto.Equal(s.Queue(name), old) {
					t.Fatalf("failed update changed the queue to %v", s.Queue(name))
				}
				return
			}
			if !proto.Equal(res.GetQueue(), tt.want) || !proto.Equal(s.Queue(name), tt.want) {
				t.Fatalf("queue = %v, stored %v, want %v", res.GetQueue(), s.Queue(name), tt.want)
			}
			// Readers holding the old record must not see it change.
			if !proto.Equal(oldPtr, old) {
				t.Fatalf("update modified a shared record in place: %v", oldPtr)
			}
		})
	}
}

func TestDeleteQueue(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 2), createCmd(10, "q", stdAttrs(), 2)) // queue 1, partitions 2 and 3

	checkStatus(t, s.Apply(deleteCmd(20, "nope")), codeNotFound, `queue "nope" does not exist`)

	res := s.Apply(deleteCmd(20, "q"))
	checkStatus(t, res, ok, "")
	if want := placements(2, 2, 3, 3); !slices.EqualFunc(res.GetDropped(), want, func(a, b *raftv1.Placement) bool { return proto.Equal(a, b) }) {
		t.Fatalf("dropped = %v, want %v", res.GetDropped(), want)
	}
	if s.Queue("q") != nil {
		t.Fatal("deleted queue still visible")
	}
	if names, _ := s.List("", "", 10); len(names) != 0 {
		t.Fatalf("List after delete = %v", names)
	}
	checkStatus(t, s.Apply(deleteCmd(21, "q")), codeNotFound, "")

	// The name is free at once, and the new queue shares no ids with the old.
	res = s.Apply(createCmd(30, "q", stdAttrs(), 2))
	checkStatus(t, res, ok, "")
	want := &raftv1.QueueRecord{Name: "q", QueueId: 4, Attributes: stdAttrs(), CreatedMs: 30, ModifiedMs: 30,
		Partitions: placements(5, 2, 6, 3)}
	if !proto.Equal(res.GetQueue(), want) {
		t.Fatalf("re-created queue = %v, want %v", res.GetQueue(), want)
	}
}

func TestIDsNeverReused(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 2))
	seen := map[uint64]bool{}
	for round := range 5 {
		res := s.Apply(createCmd(int64(round), "q", stdAttrs(), 3))
		checkStatus(t, res, ok, "")
		ids := []uint64{res.GetQueue().GetQueueId()}
		for _, p := range res.GetQueue().GetPartitions() {
			ids = append(ids, p.GetPartitionId())
		}
		for _, id := range ids {
			if id == 0 || seen[id] {
				t.Fatalf("round %d: id %d is zero or reused", round, id)
			}
			seen[id] = true
		}
		apply(t, s, deleteCmd(int64(round), "q"))
	}
}

func TestPlacement(t *testing.T) {
	shardOf := func(rec *raftv1.QueueRecord) []uint64 {
		var out []uint64
		for _, p := range rec.GetPartitions() {
			out = append(out, p.GetShardId())
		}
		return out
	}
	tests := []struct {
		name  string
		setup []*raftv1.MetaCommand
		cmd   *raftv1.MetaCommand
		want  []uint64
	}{
		{
			name:  "ties go to the lowest shard id",
			setup: []*raftv1.MetaCommand{initCmd(1, 3)},
			cmd:   createCmd(1, "q", stdAttrs(), 1),
			want:  []uint64{2},
		},
		{
			name:  "one queue's partitions spread over the shards",
			setup: []*raftv1.MetaCommand{initCmd(1, 3)},
			cmd:   createCmd(1, "q", stdAttrs(), 5),
			want:  []uint64{2, 3, 4, 2, 3},
		},
		{
			name: "successive queues fill the emptiest shard",
			setup: []*raftv1.MetaCommand{initCmd(1, 3),
				createCmd(1, "a", stdAttrs(), 1), createCmd(1, "b", stdAttrs(), 1)},
			cmd:  createCmd(1, "q", stdAttrs(), 1),
			want: []uint64{4},
		},
		{
			name: "a deleted queue frees its shards",
			setup: []*raftv1.MetaCommand{initCmd(1, 2),
				createCmd(1, "a", stdAttrs(), 1), createCmd(1, "b", stdAttrs(), 1), deleteCmd(2, "a")},
			cmd:  createCmd(3, "q", stdAttrs(), 1),
			want: []uint64{2},
		},
		{
			name: "changing a shard's replicas keeps its count",
			setup: []*raftv1.MetaCommand{initClusterCmd(1, 2, 1, 1, 2, 3),
				createCmd(1, "a", stdAttrs(), 1), addReplicaCmd(2, 2, 2, 1)},
			cmd:  createCmd(3, "q", stdAttrs(), 1),
			want: []uint64{3},
		},
		{
			name:  "never on the metadata shard",
			setup: []*raftv1.MetaCommand{initClusterCmd(1, 1, 1, 1)},
			cmd:   createCmd(1, "q", stdAttrs(), 4),
			want:  []uint64{2, 2, 2, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, tt.setup...)
			res := s.Apply(tt.cmd)
			checkStatus(t, res, ok, "")
			if got := shardOf(res.GetQueue()); !slices.Equal(got, tt.want) {
				t.Fatalf("shards = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	s := New()
	checkStatus(t, s.Apply(&raftv1.MetaCommand{NowMs: 5}), codeInvalid, "no operation")
	checkStatus(t, s.Apply(nil), codeInvalid, "no operation")
	if s.clock != 5 {
		t.Fatalf("clock = %d, want 5", s.clock)
	}
}

func TestClockIsMonotonic(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1000, 1), createCmd(2000, "a", stdAttrs(), 1))
	// The proposer's clock went backwards: the state keeps its own.
	res := s.Apply(createCmd(1500, "b", stdAttrs(), 1))
	checkStatus(t, res, ok, "")
	if got := res.GetQueue().GetCreatedMs(); got != 2000 {
		t.Fatalf("created_ms = %d, want 2000", got)
	}
	// b was created at 2000: modified_ms moves past it, however late the
	// proposer's clock.
	res = s.Apply(updateCmd(0, "b", withVisibility(stdAttrs(), 1)))
	if got := res.GetQueue().GetModifiedMs(); got != 2001 {
		t.Fatalf("modified_ms = %d, want 2001", got)
	}
	res = s.Apply(updateCmd(2500, "b", withVisibility(stdAttrs(), 2)))
	if got := res.GetQueue().GetModifiedMs(); got != 2500 {
		t.Fatalf("modified_ms = %d, want 2500", got)
	}
}

func TestList(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 1))
	for _, n := range []string{"b", "a", "ab", "abc", "abd", "b.fifo", "Z", "ac", "abe"} {
		attrs := stdAttrs()
		if strings.HasSuffix(n, ".fifo") {
			attrs = fifoAttrs()
		}
		apply(t, s, createCmd(1, n, attrs, 1))
	}
	tests := []struct {
		prefix, after string
		limit         int
		want          []string
		more          bool
	}{
		{"", "", 100, []string{"Z", "a", "ab", "abc", "abd", "abe", "ac", "b", "b.fifo"}, false},
		{"", "", 3, []string{"Z", "a", "ab"}, true},
		{"", "ab", 3, []string{"abc", "abd", "abe"}, true},
		{"", "abe", 3, []string{"ac", "b", "b.fifo"}, false},
		{"", "b.fifo", 3, nil, false},
		{"", "aa", 1, []string{"ab"}, true},
		{"ab", "", 10, []string{"ab", "abc", "abd", "abe"}, false},
		{"ab", "", 4, []string{"ab", "abc", "abd", "abe"}, false},
		{"ab", "", 2, []string{"ab", "abc"}, true},
		{"ab", "abc", 2, []string{"abd", "abe"}, false},
		{"ab", "ab", 10, []string{"abc", "abd", "abe"}, false},
		{"ab", "a", 10, []string{"ab", "abc", "abd", "abe"}, false},
		{"ab", "zzz", 10, nil, false},
		{"b", "", 10, []string{"b", "b.fifo"}, false},
		{"nope", "", 10, nil, false},
		{"", "", 0, nil, true},
		{"nope", "", 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%q/%d", tt.prefix, tt.after, tt.limit), func(t *testing.T) {
			got, more := s.List(tt.prefix, tt.after, tt.limit)
			if !slices.Equal(got, tt.want) || more != tt.more {
				t.Fatalf("List = %v, %v; want %v, %v", got, more, tt.want, tt.more)
			}
		})
	}
}

// history is a mixed command sequence for the snapshot tests.
func history() []*raftv1.MetaCommand {
	cmds := []*raftv1.MetaCommand{initCmd(1, 4)}
	for i := range 20 {
		cmds = append(cmds, createCmd(int64(10+i), fmt.Sprintf("q%02d", (i*7)%20), stdAttrs(), int32(i%4)))
	}
	cmds = append(cmds,
		createCmd(40, "d.fifo", fifoAttrs(), 2),
		createCmd(41, "q.fifo", withDLQ(fifoAttrs(), "d.fifo"), 3),
		deleteCmd(42, "q03"),
		updateCmd(30, "q04", withDLQ(stdAttrs(), "q05")),
		createCmd(43, "q03", stdAttrs(), 2),
		createCmd(44, "bad", withDLQ(stdAttrs(), "gone"), 1), // fails, still ticks the clock
		deleteCmd(45, "q07"),
		deleteCmd(46, "q.fifo"),
		ackCmd(47, 4242), // unknown: ignored
		// The cluster's layout changes too: a node joins, another drains
		// and is forgotten, replicas move.
		addNodeCmd(48, &raftv1.NodeRecord{RaftAddr: "n4:7000", ApiAddr: "n4:8000"}),
		addNodeCmd(49, &raftv1.NodeRecord{NodeId: 2, RaftAddr: "n2:7000", ApiAddr: "m2:8000"}),
		addReplicaCmd(50, 3, 4, 1),
		removeReplicaCmd(51, 3, 1005, 2),
		removeNodeCmd(52, 3),
		addReplicaCmd(53, 1, 4, 1),
		removeReplicaCmd(54, 1, 3, 2),
		addReplicaCmd(55, 2, 4, 1),
		removeReplicaCmd(56, 2, 1002, 2),
		addReplicaCmd(57, 4, 4, 1),
		removeReplicaCmd(58, 4, 1008, 2),
		addReplicaCmd(59, 5, 4, 1),
		removeReplicaCmd(60, 5, 1011, 2),
		forgetNodeCmd(61, 3),
		addReplicaCmd(62, 5, 3, 3), // fails: node 3 is gone
	)
	return cmds
}

// TestHistoryLayout checks where history leaves the cluster, so that the
// snapshot tests cover a layout that changed after InitCluster.
func TestHistoryLayout(t *testing.T) {
	s := New()
	for i, c := range history() {
		res := s.Apply(c)
		if code := res.GetStatus().GetCode(); code != ok && i < len(history())-1 && c.GetCreateQueue().GetName() != "bad" {
			t.Fatalf("command %d (%v): %v", i, c, res.GetStatus())
		}
	}
	if len(s.Nodes()) != 3 || s.Node(3) != nil || s.Node(4) == nil || s.Node(2).GetApiAddr() != "m2:8000" {
		t.Fatalf("nodes = %v", s.Nodes())
	}
	for _, sh := range s.AllShards() {
		if r := replicaOn(sh, 4); r == nil || r.GetInitial() {
			t.Fatalf("shard %d has no added replica on node 4: %v", sh.GetShardId(), sh)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := New()
	for _, c := range history() {
		s.Apply(c)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	again, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Fatal("Marshal after Unmarshal differs")
	}
	// The restored state must also behave the same: same ids, same
	// placement, same clock.
	next := []*raftv1.MetaCommand{createCmd(1, "new", stdAttrs(), 5), deleteCmd(2, "q10"), createCmd(3, "q10", stdAttrs(), 3),
		addNodeCmd(4, &raftv1.NodeRecord{RaftAddr: "n5:7000"}), addReplicaCmd(5, 2, 5, 3), removeNodeCmd(6, 1)}
	for _, c := range next {
		a, b := s.Apply(c), r.Apply(c)
		if !proto.Equal(a, b) {
			t.Fatalf("restored state answered %v, original %v", b, a)
		}
	}
	names, _ := r.List("", "", 1000)
	orig, _ := s.List("", "", 1000)
	if !slices.Equal(names, orig) {
		t.Fatalf("restored names %v, original %v", names, orig)
	}
}

func TestSnapshotOfEmptyState(t *testing.T) {
	data, err := New().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	apply(t, r, initCmd(1, 1), createCmd(1, "q", stdAttrs(), 1))
	if id := r.Queue("q").GetQueueId(); id != 1 {
		t.Fatalf("first queue id after restoring an empty state = %d, want 1", id)
	}
}

func TestUnmarshalRejectsBadSnapshots(t *testing.T) {
	dup, _ := proto.Marshal(&raftv1.MetaState{NextId: 3, Queues: []*raftv1.QueueRecord{{Name: "a"}, {Name: "a"}}})
	dupDrop, _ := proto.Marshal(&raftv1.MetaState{NextId: 9, PendingDrops: placements(4, 2, 5, 2, 4, 3)})
	zero, _ := proto.Marshal(&raftv1.MetaState{})
	dupNode, _ := proto.Marshal(&raftv1.MetaState{NextId: 3, Nodes: []*raftv1.NodeRecord{{NodeId: 2}, {NodeId: 1}, {NodeId: 2}}})
	dupShard, _ := proto.Marshal(&raftv1.MetaState{NextId: 3, Shards: []*raftv1.ShardRecord{{ShardId: 2}, {ShardId: 2}}})
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}},
		{"duplicate queue", dup},
		{"duplicate pending drop", dupDrop},
		{"next_id 0", zero},
		{"duplicate node", dupNode},
		{"duplicate shard", dupShard},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, initCmd(1, 1), createCmd(1, "q", stdAttrs(), 1))
			before, _ := s.Marshal()
			if err := s.Unmarshal(tt.data); err == nil {
				t.Fatal("Unmarshal succeeded")
			}
			after, _ := s.Marshal()
			if !bytes.Equal(before, after) {
				t.Fatal("failed Unmarshal changed the state")
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	a, b := New(), New()
	for _, c := range history() {
		ra, rb := a.Apply(c), b.Apply(proto.CloneOf(c))
		if !proto.Equal(ra, rb) {
			t.Fatalf("results differ: %v vs %v", ra, rb)
		}
	}
	// Marshal more than once: map order varies between iterations in Go,
	// so repeated runs would catch it leaking into the bytes.
	first, _ := a.Marshal()
	for range 20 {
		da, _ := a.Marshal()
		db, _ := b.Marshal()
		if !bytes.Equal(da, first) || !bytes.Equal(db, first) {
			t.Fatal("Marshal output differs")
		}
	}
}

// TestLoadMatchesRecords checks the placement counts against a recount from
// the stored records after every command, including through a snapshot.
func TestLoadMatchesRecords(t *testing.T) {
	recount := func(s *State) map[uint64]int {
		m := map[uint64]int{}
		for _, rec := range s.queues {
			for _, p := range rec.GetPartitions() {
				m[p.GetShardId()]++
			}
		}
		return m
	}
	s := New()
	for i, c := range history() {
		s.Apply(c)
		if got, want := s.load, recount(s); !maps.Equal(got, want) {
			t.Fatalf("after command %d: load %v, records say %v", i, got, want)
		}
	}
	data, _ := s.Marshal()
	r := New()
	if err := r.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(r.load, s.load) {
		t.Fatalf("restored load %v, want %v", r.load, s.load)
	}
}

func TestPartitionsOfAQueueUseDistinctShards(t *testing.T) {
	// Shard loads [2, 0, 0, 0]: a 4-partition queue must still use all four
	// shards, not put two partitions on one of the empty ones.
	s := New()
	apply(t, s, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: &raftv1.InitCluster{
		Nodes: []*raftv1.NodeRecord{{NodeId: 1, RaftAddr: "a:1"}}, QueueShards: 4, ReplicationFactor: 1}}})
	// a..e land on shards 2, 3, 4, 5, 2; deleting b, c, d leaves [2, 0, 0, 0].
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		apply(t, s, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
			Name: name, Attributes: &raftv1.QueueAttributes{VisibilityTimeoutSeconds: 30}}}})
	}
	for _, name := range []string{"b", "c", "d"} {
		apply(t, s, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: name}}})
	}
	if got := s.PartitionsPerShard(); len(got) != 1 || got[2] != 2 {
		t.Fatalf("setup: partitions per shard %v, want [2 0 0 0]", got)
	}
	res := s.Apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
		Name: "wide", Attributes: &raftv1.QueueAttributes{VisibilityTimeoutSeconds: 30}, Partitions: 4}}})
	shards := map[uint64]bool{}
	for _, p := range res.GetQueue().GetPartitions() {
		shards[p.GetShardId()] = true
	}
	if len(shards) != 4 {
		t.Fatalf("4 partitions on shards %v, want 4 distinct", shards)
	}
	// More partitions than shards: every shard first, then the least loaded.
	res = s.Apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
		Name: "wider", Attributes: &raftv1.QueueAttributes{VisibilityTimeoutSeconds: 30}, Partitions: 6}}})
	shards = map[uint64]bool{}
	for _, p := range res.GetQueue().GetPartitions()[:4] {
		shards[p.GetShardId()] = true
	}
	if len(shards) != 4 {
		t.Fatalf("first 4 of 6 partitions on shards %v, want 4 distinct", shards)
	}
}

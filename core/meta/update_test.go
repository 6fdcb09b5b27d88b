package meta

import (
	"strings"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

func expectUpdateCmd(now int64, name string, attrs *raftv1.QueueAttributes, queueID uint64, modified int64) *raftv1.MetaCommand {
	c := updateCmd(now, name, attrs)
	c.GetUpdateQueue().ExpectedQueueId = queueID
	c.GetUpdateQueue().ExpectedModifiedMs = modified
	return c
}

func TestUpdateQueuePrecondition(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 1), createCmd(10, "q", stdAttrs(), 1)) // queue 1, modified 10

	// Two proposers read the same record; the first update wins.
	first := s.Apply(expectUpdateCmd(20, "q", withVisibility(stdAttrs(), 60), 1, 10))
	checkStatus(t, first, ok, "")
	stored := proto.CloneOf(s.Queue("q"))
	second := s.Apply(expectUpdateCmd(20, "q", withVisibility(stdAttrs(), 90), 1, 10))
	checkStatus(t, second, codePrecondition, `queue "q" changed concurrently`)
	if !proto.Equal(s.Queue("q"), stored) {
		t.Fatalf("refused update changed the queue to %v", s.Queue("q"))
	}
	// Re-read and retried, it applies.
	checkStatus(t, s.Apply(expectUpdateCmd(20, "q", withVisibility(stdAttrs(), 90), 1, stored.GetModifiedMs())), ok, "")

	// Zero skips the checks, as for proposers that do not read first.
	checkStatus(t, s.Apply(updateCmd(20, "q", withVisibility(stdAttrs(), 5))), ok, "")

	// A re-created queue may carry the modified_ms its predecessor had; its
	// id tells them apart.
	apply(t, s, deleteCmd(30, "q"), createCmd(30, "q", stdAttrs(), 1))
	rec := s.Queue("q")
	checkStatus(t, s.Apply(expectUpdateCmd(30, "q", withVisibility(stdAttrs(), 7), 1, rec.GetModifiedMs())),
		codePrecondition, "deleted and re-created")
	checkStatus(t, s.Apply(expectUpdateCmd(30, "q", withVisibility(stdAttrs(), 7), rec.GetQueueId(), rec.GetModifiedMs())), ok, "")

	// The precondition is checked before the attributes: a stale proposer
	// learns to re-read, not that its (stale) merge is invalid.
	checkStatus(t, s.Apply(expectUpdateCmd(30, "q", fifoAttrs(), rec.GetQueueId(), rec.GetModifiedMs())),
		codePrecondition, "changed concurrently")
}

// TestModifiedStrictlyIncreases checks what expected_modified_ms relies on:
// every update changes the stamp, even within one millisecond.
func TestModifiedStrictlyIncreases(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 1), createCmd(100, "q", stdAttrs(), 1))
	prev := s.Queue("q").GetModifiedMs()
	for i := range 5 {
		res := s.Apply(updateCmd(100, "q", withVisibility(stdAttrs(), int32(i))))
		checkStatus(t, res, ok, "")
		if got := res.GetQueue().GetModifiedMs(); got != prev+1 {
			t.Fatalf("update %d in the same ms: modified_ms = %d, want %d", i, got, prev+1)
		}
		prev = res.GetQueue().GetModifiedMs()
	}
	// Once the clock passes the stamps, it sets them again.
	res := s.Apply(updateCmd(500, "q", stdAttrs()))
	if got := res.GetQueue().GetModifiedMs(); got != 500 {
		t.Fatalf("modified_ms = %d, want 500", got)
	}
	// A failed update leaves the stamp alone.
	checkStatus(t, s.Apply(updateCmd(600, "q", fifoAttrs())), codeInvalid, "fifo")
	if got := s.Queue("q").GetModifiedMs(); got != 500 {
		t.Fatalf("failed update moved modified_ms to %d", got)
	}
}

// Snapshots that Apply could never have produced, and that would break it,
// are refused naming what is wrong: an initialized cluster without nodes
// (AddNode would index past the node list), a node id outside
// 1..MaxNodeID, a partition id 0 or named twice (deleting the queue would
// then put it twice in the pending drops, and the next snapshot would not
// recover), a queue or partition id not below next_id (it would be handed
// out again) or a queue id held by two queues. FuzzMetaSnapshot found the
// missing nodes, the partition named twice and the ids above next_id
// (core/shard/testdata/fuzz/FuzzMetaSnapshot).
func TestUnmarshalRefusesStatesApplyCannotMake(t *testing.T) {
	meta := []*raftv1.ShardRecord{{ShardId: MetaShardID, Version: 1}}
	nodes := []*raftv1.NodeRecord{{NodeId: 1, RaftAddr: "a:1"}}
	queue := func(name string, ids ...uint64) *raftv1.QueueRecord {
		q := &raftv1.QueueRecord{Name: name, QueueId: uint64(len(name))}
		for _, id := range ids {
			q.Partitions = append(q.Partitions, &raftv1.Placement{PartitionId: id, ShardId: 2})
		}
		return q
	}
	for name, c := range map[string]struct {
		st   *raftv1.MetaState
		want string
	}{
		"no nodes":  {&raftv1.MetaState{NextId: 9, Shards: meta}, "no node"},
		"node id 0": {&raftv1.MetaState{NextId: 9, Nodes: []*raftv1.NodeRecord{{NodeId: 0, RaftAddr: "a:1"}}}, "nodes[0].node_id"},
		"partition twice in a queue": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("q", 6, 6)}}, "partition 6 appears twice"},
		"partition in two queues": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("a", 6), queue("bb", 6)}}, "partition 6 appears twice"},
		"partition live and pending": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("a", 6)}, PendingDrops: []*raftv1.Placement{{PartitionId: 6, ShardId: 2}}}, "partition 6 appears twice"},
		"queue id at next_id": {&raftv1.MetaState{NextId: 2, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("aa")}}, "queue_id: 2 is not between 1 and next_id 2"},
		"queue id twice": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("a"), queue("b")}}, "queue_id: 1 is another queue's too"},
		"partition id above next_id": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("a", 12)}}, "partition_id: 12 is not below next_id 9"},
		"pending drop above next_id": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			PendingDrops: []*raftv1.Placement{{PartitionId: 9, ShardId: 2}}}, "partition_id: 9 is not below next_id 9"},
		"partition 0": {&raftv1.MetaState{NextId: 9, Shards: meta, Nodes: nodes,
			Queues: []*raftv1.QueueRecord{queue("a", 0)}}, "partition_id: must not be 0"},
	} {
		data, err := proto.Marshal(c.st)
		if err != nil {
			t.Fatal(err)
		}
		s := New()
		if err := s.Unmarshal(data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: unmarshal = %v, want an error saying %q", name, err, c.want)
		}
	}
}

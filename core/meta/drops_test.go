package meta

import (
	"bytes"
	"slices"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

func ackCmd(now int64, ids ...uint64) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_AckDrops{
		AckDrops: &raftv1.AckDrops{PartitionIds: ids},
	}}
}

func checkPending(t *testing.T, s *State, want []*raftv1.Placement) {
	t.Helper()
	if got := s.PendingDrops(); !slices.EqualFunc(got, want, func(a, b *raftv1.Placement) bool { return proto.Equal(a, b) }) {
		t.Fatalf("PendingDrops() = %v, want %v", got, want)
	}
}

func TestDeleteQueueAddsPendingDrops(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 2),
		createCmd(10, "old", stdAttrs(), 2), // queue 1, partitions 2 (shard 2) and 3 (shard 3)
		createCmd(10, "new", stdAttrs(), 1), // queue 4, partition 5 (shard 2)
	)
	checkPending(t, s, nil)

	// Deleting the newer queue first still leaves the list in id order.
	apply(t, s, deleteCmd(20, "new"))
	checkPending(t, s, placements(5, 2))
	apply(t, s, deleteCmd(21, "old"))
	checkPending(t, s, placements(2, 2, 3, 3, 5, 2))

	// A failed delete adds nothing.
	checkStatus(t, s.Apply(deleteCmd(22, "old")), codeNotFound, "")
	checkPending(t, s, placements(2, 2, 3, 3, 5, 2))

	// The list is a copy: changing it does not change the state.
	got := s.PendingDrops()
	got[0] = nil
	checkPending(t, s, placements(2, 2, 3, 3, 5, 2))
}

func TestAckDrops(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 2), createCmd(10, "q", stdAttrs(), 3), deleteCmd(11, "q")) // partitions 2, 3, 4
	checkPending(t, s, placements(2, 2, 3, 3, 4, 2))

	// Unknown ids (never pending, or a live queue's partition) are ignored.
	apply(t, s, createCmd(12, "live", stdAttrs(), 1)) // queue 5, partition 6
	checkStatus(t, s.Apply(ackCmd(13, 3, 99, 6)), ok, "")
	checkPending(t, s, placements(2, 2, 4, 2))
	if s.Queue("live") == nil {
		t.Fatal("acknowledging a live partition's id removed its queue")
	}

	// A repeated ack changes nothing.
	before, _ := s.Marshal()
	checkStatus(t, s.Apply(ackCmd(14, 3)), ok, "")
	checkStatus(t, s.Apply(ackCmd(14)), ok, "")
	after, _ := s.Marshal()
	after2 := New()
	if err := after2.Unmarshal(before); err != nil {
		t.Fatal(err)
	}
	after2.clock = s.clock
	if want, _ := after2.Marshal(); !bytes.Equal(after, want) {
		t.Fatal("a repeated ack changed the state")
	}

	// Too many ids is refused whole.
	checkStatus(t, s.Apply(ackCmd(15, make([]uint64, maxAckDrops+1)...)), codeInvalid, "partition_ids: must be at most 1024")
	checkPending(t, s, placements(2, 2, 4, 2))

	checkStatus(t, s.Apply(ackCmd(16, 4, 2, 2)), ok, "")
	checkPending(t, s, nil)
}

func TestPendingDropsSurviveSnapshot(t *testing.T) {
	s := New()
	apply(t, s, initCmd(1, 2),
		createCmd(10, "a", stdAttrs(), 2), createCmd(10, "b", stdAttrs(), 1),
		deleteCmd(11, "b"), deleteCmd(12, "a"), ackCmd(13, 3))
	want := s.PendingDrops()
	if len(want) != 2 {
		t.Fatalf("pending before the snapshot = %v", want)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	checkPending(t, r, want)
	again, _ := r.Marshal()
	if !bytes.Equal(data, again) {
		t.Fatal("Marshal after Unmarshal differs")
	}
	// Both go on identically.
	for _, c := range []*raftv1.MetaCommand{ackCmd(20, want[0].GetPartitionId()), deleteCmd(21, "nope")} {
		if a, b := s.Apply(c), r.Apply(c); !proto.Equal(a, b) {
			t.Fatalf("restored state answered %v, original %v", b, a)
		}
	}
	checkPending(t, r, s.PendingDrops())
}

func TestUnmarshalWithoutPendingDrops(t *testing.T) {
	// A snapshot written before pending drops were recorded.
	old, err := proto.Marshal(&raftv1.MetaState{
		NextId: 3, ClockMs: 7,
		Shards: []*raftv1.ShardRecord{{ShardId: 2}},
		Queues: []*raftv1.QueueRecord{{Name: "q", QueueId: 1, Attributes: stdAttrs(), Partitions: placements(2, 2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New()
	if err := s.Unmarshal(old); err != nil {
		t.Fatal(err)
	}
	checkPending(t, s, nil)
	apply(t, s, deleteCmd(8, "q"))
	checkPending(t, s, placements(2, 2))
}

func TestUnmarshalSortsPendingDrops(t *testing.T) {
	data, _ := proto.Marshal(&raftv1.MetaState{NextId: 9, PendingDrops: placements(7, 2, 3, 3, 5, 2)})
	s := New()
	if err := s.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	checkPending(t, s, placements(3, 3, 5, 2, 7, 2))
}

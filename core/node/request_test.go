package node

import (
	"fmt"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

func queueWithPartitions(fifo bool, n int) *raftv1.QueueRecord {
	rec := &raftv1.QueueRecord{Attributes: &raftv1.QueueAttributes{Fifo: fifo}}
	for i := range n {
		rec.Partitions = append(rec.Partitions, &raftv1.Placement{PartitionId: uint64(100 + i), ShardId: 2})
	}
	return rec
}

// A partition remembers the request ids it stored, so every attempt of a
// send must reach the same partition.
func TestEntryPartitionFollowsRequestID(t *testing.T) {
	rec := queueWithPartitions(false, 4)
	seen := map[int]bool{}
	for i := range 64 {
		e := &raftv1.SendEntry{RequestId: fmt.Sprintf("req-%d", i)}
		p := entryPartition(rec, e, testRand(t))
		for range 10 {
			if again := entryPartition(rec, e, testRand(t)); again != p {
				t.Fatalf("request id %q went to partition %d, then %d", e.RequestId, p, again)
			}
		}
		seen[p] = true
	}
	if len(seen) != 4 {
		t.Errorf("64 request ids used partitions %v of 4: sends no longer spread", seen)
	}
}

func TestEntryPartitionFIFOFollowsGroup(t *testing.T) {
	rec := queueWithPartitions(true, 4)
	for i := range 16 {
		group := fmt.Sprintf("g-%d", i)
		want := groupPartition(group, 4)
		for j := range 4 {
			e := &raftv1.SendEntry{GroupId: group, RequestId: fmt.Sprintf("req-%d-%d", i, j)}
			if got := entryPartition(rec, e, testRand(t)); got != want {
				t.Fatalf("group %q with request id %q went to partition %d, want the group's %d", group, e.RequestId, got, want)
			}
		}
	}
}

func TestEntryPartitionSinglePartition(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		if got := entryPartition(queueWithPartitions(fifo, 1), &raftv1.SendEntry{GroupId: "g", RequestId: "r"}, testRand(t)); got != 0 {
			t.Errorf("fifo %v: partition %d of 1", fifo, got)
		}
	}
}

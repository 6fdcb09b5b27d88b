package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// partitionState reads one partition's bookkeeping from its queue shard:
// nil once the partition holds nothing (dropped, or never used).
func partitionState(t *testing.T, n *testNode, pl *raftv1.Placement) *raftv1.PartitionState {
	t.Helper()
	return must(n.partitionStates(ctx(t), pl.GetShardId(), []uint64{pl.GetPartitionId()}))[0]
}

func pendingIDs(t *testing.T, n *testNode) []uint64 {
	t.Helper()
	var ids []uint64
	for _, pl := range must(n.pendingDrops(ctx(t), 0, dropsPerRound)) {
		ids = append(ids, pl.GetPartitionId())
	}
	return ids
}

// waitDropped waits until nothing is pending and pl's data is gone.
func waitDropped(t *testing.T, n *testNode, pl *raftv1.Placement, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pending := pendingIDs(t, n)
		st := partitionState(t, n, pl)
		if len(pending) == 0 && st == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: pending drops %v, partition %d state %v", within, pending, pl.GetPartitionId(), st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// doomedQueue creates a queue holding messages and returns its placement.
func doomedQueue(t *testing.T, n *testNode, name string) *raftv1.Placement {
	t.Helper()
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: name})
	for i := range 3 {
		send(t, n, name, fmt.Sprintf("m%d", i))
	}
	rec := must(n.findQueue(ctx(t), name))
	pl := rec.GetPartitions()[0]
	if st := partitionState(t, n, pl); st.GetVisible() != 3 || st.GetQueueId() != rec.GetQueueId() {
		t.Fatalf("partition before delete: %v", st)
	}
	return pl
}

func TestDeleteQueueDropsPartition(t *testing.T) {
	n := startNode(t, nil)
	pl := doomedQueue(t, n, "doomed")
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "kept"})
	send(t, n, "kept", "stays")

	must(n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "doomed"}))
	// DeleteQueue kicks the loop: no need to wait out its interval.
	waitDropped(t, n, pl, dropInterval-time.Second)

	// A queue on the same shards is untouched.
	if q := getQueue(t, n, "kept"); q.GetApproximateNumberOfMessages() != 1 {
		t.Fatalf("other queue after the drop: %v", q)
	}
	// The dropped partition left a tombstone: a write that raced with the
	// delete cannot bring it back.
	res := must(n.proposeQueue(ctx(t), pl.GetShardId(), &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Purge{
		Purge: &raftv1.Purge{Partition: &raftv1.PartitionConfig{QueueId: 1, PartitionId: pl.GetPartitionId(), QueueName: "doomed"}},
	}}))
	if code := core.CodeOf(statusError(res.GetStatus())); code != core.NotFound {
		t.Fatalf("write to the dropped partition: %v", res.GetStatus())
	}
}

// TestDropAfterCrash covers the window a crash leaves between a DeleteQueue
// and the drop of its partitions: the drop still happens, after a restart.
func TestDropAfterCrash(t *testing.T) {
	// Snapshots every few entries, so that the pending drop also goes
	// through a metadata snapshot on the way.
	n := startNode(t, func(c *Config) {
		c.SnapshotEntries = 5
		c.skipDropLoop = true
	})
	pl := doomedQueue(t, n, "doomed")
	must(n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "doomed"}))
	for i := range 10 {
		createQueue(t, n, &wharfv1.CreateQueueRequest{Name: fmt.Sprintf("filler-%d", i)})
	}
	if got := pendingIDs(t, n); len(got) != 1 || got[0] != pl.GetPartitionId() {
		t.Fatalf("pending drops = %v, want [%d]", got, pl.GetPartitionId())
	}
	if st := partitionState(t, n, pl); st.GetVisible() != 3 {
		t.Fatalf("partition dropped with the drop loop off: %v", st)
	}

	n.opts = func(c *Config) { c.SnapshotEntries = 5 }
	n.restart()
	waitDropped(t, n, pl, 10*time.Second)
	_, err := n.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "doomed"})
	wantCode(t, err, core.NotFound, "")
}

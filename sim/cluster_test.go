package sim

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// TestCrashesKeepAcknowledgedSends runs the real nodes through a follower
// crash, a leader crash and a power loss of all three, in virtual time.
func TestCrashesKeepAcknowledgedSends(t *testing.T) {
	wall := time.Now()
	var virtual time.Duration
	var trace uint64
	var delivered int
	synctest.Test(t, func(t *testing.T) {
		virtual, trace, delivered = runScenario(t, 1)
	})
	elapsed := time.Since(wall)
	t.Logf("virtual %v in wall %v: %.1f virtual seconds per wall second; trace %x over %d messages",
		virtual, elapsed, virtual.Seconds()/elapsed.Seconds(), trace, delivered)
}

// TestHandOffLeadership: a node asked to hand off gives up every shard it
// leads, to another replica.
func TestHandOffLeadership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, err := Start(ctx, Options{Seed: 5, QueueShards: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		leaders := func() map[uint64]uint64 {
			st, err := c.Node(1).GetClusterStatus(ctx, &wharfv1.GetClusterStatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			out := map[uint64]uint64{}
			for _, s := range st.GetShards() {
				out[s.GetShardId()] = s.GetLeaderNodeId()
			}
			return out
		}
		time.Sleep(2 * time.Second)
		before := leaders()
		var from uint64
		for id := uint64(1); id <= 3 && from == 0; id++ {
			n, err := c.Node(id).HandOffLeadership(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				from = id
			}
		}
		if from == 0 {
			t.Fatalf("no node led a shard: %v", before)
		}
		time.Sleep(2 * time.Second)
		after := leaders()
		for shard, leader := range before {
			if leader == from && (after[shard] == from || after[shard] == 0) {
				t.Fatalf("shard %d: leader %d before the hand-off, %d after", shard, leader, after[shard])
			}
		}
	})
}

// TestReplaceNode: the replace fault joins a node, removes another, waits
// until the cluster forgot it (its replicas moved) and stops it.
func TestReplaceNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, err := Start(ctx, Options{Seed: 9, QueueShards: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f := newFaults(c, 9)
		if err := f.replace(ctx, 2*7+1); err != nil { // via node 1 (15%3), remove node 3 ((15/7)%3)
			t.Fatal(err)
		}
		if !c.Retired(3) || c.Node(4) == nil {
			t.Fatalf("node 3 retired %v, node 4 up %v", c.Retired(3), c.Node(4) != nil)
		}
		// Forgotten means no replica is assigned to it any more; the Raft
		// memberships drop its replicas soon after.
		var bad string
		for range 60 {
			st, err := c.Node(4).GetClusterStatus(ctx, &wharfv1.GetClusterStatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			bad = ""
			if len(st.GetNodes()) != 3 {
				bad = fmt.Sprintf("nodes %v", st.GetNodes())
			}
			for _, s := range st.GetShards() {
				for _, r := range s.GetReplicas() {
					if r.GetNodeId() == 3 || len(s.GetReplicas()) != 3 {
						bad = fmt.Sprintf("shard %d replicas %v", s.GetShardId(), s.GetReplicas())
					}
				}
			}
			if bad == "" {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("30 s after node 3 was forgotten: %s", bad)
	})
}

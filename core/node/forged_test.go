package node

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/shard"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// TestForgedProposalsAreRefused proposes, through NodeService Propose as a
// stranger could (issue 11), commands no node makes: each is refused by the
// queue shard, and the queue keeps working as before.
func TestForgedProposalsAreRefused(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "victim"})
	send(t, n, "victim", "before")
	rec := must(n.findQueue(ctx(t), "victim"))
	pl := rec.GetPartitions()[0]
	cfg := partitionConfig(rec, pl, nil)
	clockBefore := partitionClock(t, n, pl.GetShardId())

	forged := func(now int64, change func(*raftv1.PartitionConfig, *raftv1.SendEntry)) *raftv1.QueueCommand {
		c := proto.CloneOf(cfg)
		e := &raftv1.SendEntry{MessageId: "forged", Body: "forged", DelaySeconds: -1}
		change(c, e)
		return &raftv1.QueueCommand{NowMs: now, Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: c, Entries: []*raftv1.SendEntry{e}}}}
	}
	now := n.nowMs()
	for name, cmd := range map[string]*raftv1.QueueCommand{
		"3 MiB body under a forged limit": forged(now, func(c *raftv1.PartitionConfig, e *raftv1.SendEntry) {
			c.MaximumMessageBytes, e.Body = 4<<20, strings.Repeat("x", 3<<20)
		}),
		"empty body":        forged(now, func(_ *raftv1.PartitionConfig, e *raftv1.SendEntry) { e.Body = "" }),
		"delay of MaxInt32": forged(now, func(_ *raftv1.PartitionConfig, e *raftv1.SendEntry) { e.DelaySeconds = math.MaxInt32 }),
		"tick at MaxInt64":  {NowMs: math.MaxInt64, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}},
	} {
		t.Run(name, func(t *testing.T) {
			data := must(proto.Marshal(cmd))
			resp, err := n.NodeService().Propose(ctx(t), &nodev1.ProposeRequest{ShardId: pl.GetShardId(), Command: data})
			if err != nil {
				t.Fatal(err)
			}
			res := &raftv1.QueueResult{}
			if err := proto.Unmarshal(resp.GetResult(), res); err != nil {
				t.Fatal(err)
			}
			if res.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || len(res.GetSent()) != 0 {
				t.Fatalf("forged command applied: %v", res)
			}
		})
	}
	// Nothing was stored, the clock did not leap, and the queue works.
	if st := partitionState(t, n, pl); st.GetVisible() != 1 {
		t.Fatalf("partition after the forged commands: %v", st)
	}
	if c := partitionClock(t, n, pl.GetShardId()); c < clockBefore || c > n.nowMs() {
		t.Fatalf("shard clock %d after the forged commands, want between %d and now", c, clockBefore)
	}
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "victim", MaxMessages: 10})
	if bodies(msgs) != "before" || msgs[0].GetVisibleAtTimestamp() <= 0 {
		t.Fatalf("receive after the forged commands: %v", msgs)
	}
}

// partitionClock reads the shard clock of a queue shard.
func partitionClock(t *testing.T, n *testNode, shardID uint64) int64 {
	t.Helper()
	v := must(n.read(ctx(t), shardID, shard.ShardStateQuery{}))
	st, ok := v.(*raftv1.ShardState)
	if !ok {
		t.Fatalf("shard state query returned %T", v)
	}
	return st.GetClockMs()
}

package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// appliedIndexes returns the applied index of every replica on the node.
func appliedIndexes(n *testNode) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, r := range n.localStatus() {
		out[r.GetShardId()] = r.GetAppliedIndex()
	}
	return out
}

// An idle long poll waits for a wake without proposing: many polls on an
// empty queue leave every shard's log where it was (before, each proposed
// an empty receive every second), and a send still reaches one of them at
// once.
func TestIdleLongPollsWriteNothing(t *testing.T) {
	const (
		polls = 40
		idle  = 3 * time.Second
	)
	// The default fallback re-poll (1 s): each poll looks about 3 times.
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "idle"})
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "idle.fifo", Fifo: true})
	// A message received and still leased sits in flight: the polls below
	// see a partition that holds a message but has nothing to give.
	send(t, n, "idle", "held")
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "idle", VisibilityTimeoutSeconds: i32(600)}); bodies(msgs) != "held" {
		t.Fatalf("got %v", msgs)
	}
	// A FIFO group whose first message is in flight holds back the next,
	// which is visible but not receivable.
	for _, body := range []string{"first", "next"} {
		must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "idle.fifo", Body: body, MessageGroupId: "g", MessageDeduplicationId: body}))
	}
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "idle.fifo", MaxMessages: 1, VisibilityTimeoutSeconds: i32(600)}); bodies(msgs) != "first" {
		t.Fatalf("got %v", msgs)
	}
	time.Sleep(300 * time.Millisecond) // let the loops settle
	before := appliedIndexes(n)

	type result struct {
		msgs []*wharfv1.Message
		err  error
	}
	results := make(chan result, 2*polls)
	c, cancel := context.WithTimeout(context.Background(), idle+10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 2 * polls {
		queue := "idle"
		if i%2 == 1 {
			queue = "idle.fifo"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := n.ReceiveMessage(c, &wharfv1.ReceiveMessageRequest{Queue: queue, WaitTimeSeconds: i32(20)})
			results <- result{resp.GetMessages(), err}
		}()
	}
	time.Sleep(idle)
	after := appliedIndexes(n)
	grew := uint64(0)
	for shardID, idx := range after {
		grew += idx - before[shardID]
	}
	// Background loops may commit a few entries; 2×40 polls proposing
	// once a second made hundreds.
	if grew > 5 {
		t.Errorf("the shards' logs grew by %d entries during %d idle long polls of %v (before %v, after %v)",
			grew, 2*polls, idle, before, after)
	}
	select {
	case r := <-results:
		t.Fatalf("an idle long poll returned early: %v, %v", r.msgs, r.err)
	default:
	}

	sent := time.Now()
	send(t, n, "idle", "wake up")
	select {
	case r := <-results:
		if r.err != nil || bodies(r.msgs) != "wake up" {
			t.Fatalf("a poll got %v, %v", r.msgs, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no long poll received the message sent while they waited")
	}
	t.Logf("the message reached a poll %v after its send", time.Since(sent))
	cancel()
	wg.Wait()
}

// A message that becomes visible by time (a delay ending, a lease
// expiring) reaches a waiting long poll through the wake of the Tick that
// makes it visible: with the fallback re-poll an hour away, nothing else
// can end these polls before their 20 s.
func TestLongPollWakesWhenTimeMakesAMessageVisible(t *testing.T) {
	n := startNode(t, func(c *Config) { c.pollInterval = time.Hour })
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "timed"})
	poll := func() []*wharfv1.Message {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return must(n.ReceiveMessage(c, &wharfv1.ReceiveMessageRequest{Queue: "timed", WaitTimeSeconds: i32(20), VisibilityTimeoutSeconds: i32(1)})).GetMessages()
	}
	must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "timed", Body: "later", DelaySeconds: i32(1)}))
	if msgs := poll(); bodies(msgs) != "later" {
		t.Fatalf("after the delay: got %v", msgs)
	}
	// Leased for 1 s and not deleted: it comes back.
	if msgs := poll(); bodies(msgs) != "later" || msgs[0].GetReceiveCount() != 2 {
		t.Fatalf("after the lease: got %v", msgs)
	}
}

// refuseAll is a LongPollGate at its cap.
type refuseAll struct{ asked atomic.Int32 }

func (g *refuseAll) Admit(context.Context) (func(), error) {
	g.asked.Add(1)
	return nil, core.Errorf(core.ResourceExhausted, "too many long polls")
}

// The long-poll gate is asked only when a receive is about to wait: a
// receive that finds a message, or a short poll, is never refused.
func TestLongPollGateOnlyRefusesWaits(t *testing.T) {
	gate := &refuseAll{}
	n := startNode(t, func(c *Config) { c.LongPolls = gate })
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "q"})
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "q"}); len(msgs) != 0 {
		t.Fatalf("short poll got %v", msgs)
	}
	start := time.Now()
	_, err := n.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "q", WaitTimeSeconds: i32(20)})
	wantCode(t, err, core.ResourceExhausted, "")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the refusal took %v: it waited", took)
	}
	send(t, n, "q", "here")
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "q", WaitTimeSeconds: i32(20)}); bodies(msgs) != "here" {
		t.Fatalf("long poll with a message waiting got %v", msgs)
	}
	if got := gate.asked.Load(); got != 1 {
		t.Fatalf("the gate was asked %d times, want once (by the poll that would wait)", got)
	}
}

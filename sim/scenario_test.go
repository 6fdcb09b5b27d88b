package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// scenario drives a cluster through crashes of a follower, of the leader,
// and a power loss of all nodes, sending all along, then checks that every
// acknowledged send can be received. It returns the virtual time it took
// and the network's trace.
type scenario struct {
	t     *testing.T
	c     *Cluster
	acked map[string]bool // bodies of acknowledged sends
	sent  int
}

const queueName = "q"

func runScenario(t *testing.T, seed uint64) (virtual time.Duration, trace uint64, delivered int) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Close()
		trace, delivered = c.Net.Trace()
	}()
	s := &scenario{t: t, c: c, acked: map[string]bool{}}
	if _, err := c.Node(1).CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: queueName}); err != nil {
		t.Fatalf("create queue: %v", err)
	}
	s.sendSome(ctx, 10)

	leader := s.queueLeader(ctx)
	follower := leader%3 + 1
	c.Crash(follower)
	s.sendSome(ctx, 5)
	if err := c.Restart(ctx, follower); err != nil {
		t.Fatal(err)
	}

	leader = s.queueLeader(ctx)
	c.Crash(leader)
	s.sendSome(ctx, 5)
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}

	if err := c.PowerLoss(ctx); err != nil {
		t.Fatal(err)
	}
	s.sendSome(ctx, 5)
	s.receiveAll(ctx)
	return time.Since(start), 0, 0
}

// live returns the nodes that are up, in id order.
func (s *scenario) live() []*node.Node {
	var out []*node.Node
	for id := uint64(1); id <= 3; id++ {
		if n := s.c.Node(id); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// sendSome sends k messages through the live nodes in turn, retrying
// (with the same request id, so a retry is stored once) while the cluster
// recovers. A send is acknowledged when it returns without error.
func (s *scenario) sendSome(ctx context.Context, k int) {
	for range k {
		s.sent++
		body := fmt.Sprintf("m%d", s.sent)
		var err error
		for attempt := range 50 {
			nodes := s.live()
			n := nodes[(s.sent+attempt)%len(nodes)]
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = n.SendMessage(c, &wharfv1.SendMessageRequest{Queue: queueName, Body: body, RequestId: body})
			cancel()
			if err == nil {
				s.acked[body] = true
				break
			}
			if code := core.CodeOf(err); code != core.Unavailable && code != core.DeadlineExceeded {
				// Not a retryable code, but seen while a node is down
				// (e.g. dragonboat's "timeout value is too small"
				// surfacing from a nested read): noted, retried.
				s.t.Logf("send %s: code %v: %v", body, code, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			s.t.Fatalf("send %s: gave up: %v", body, err)
		}
	}
}

// queueLeader returns the node that leads the queue shard.
func (s *scenario) queueLeader(ctx context.Context) uint64 {
	for range 50 {
		st, err := s.c.Node(1).GetClusterStatus(ctx, &wharfv1.GetClusterStatusRequest{})
		if err == nil {
			for _, sh := range st.GetShards() {
				if sh.GetKind() == "queue" && sh.GetLeaderNodeId() != 0 {
					return sh.GetLeaderNodeId()
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatal("queue shard has no leader")
	return 0
}

// receiveAll receives and deletes until every acknowledged message came.
func (s *scenario) receiveAll(ctx context.Context) {
	missing := map[string]bool{}
	for b := range s.acked {
		missing[b] = true
	}
	vis, wait := int32(60), int32(1)
	for i := 0; len(missing) > 0 && i < 100; i++ {
		n := s.live()[i%3]
		resp, err := n.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{
			Queue: queueName, MaxMessages: 10, VisibilityTimeoutSeconds: &vis, WaitTimeSeconds: &wait,
		})
		if err != nil {
			s.t.Logf("receive: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for _, m := range resp.GetMessages() {
			delete(missing, m.GetBody())
			if _, err := n.DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: queueName, ReceiptHandle: m.GetReceiptHandle()}); err != nil {
				s.t.Errorf("delete %s: %v", m.GetBody(), err)
			}
		}
	}
	if len(missing) > 0 {
		s.t.Fatalf("%d of %d acknowledged sends lost: %v", len(missing), len(s.acked), missing)
	}
}

package main_test

// Cluster tests: several real wharfd processes on 127.0.0.1.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// cluster is n wharfd processes started as one new cluster.
type cluster struct {
	t     *testing.T
	nodes map[uint64]*server
	// auth gives the peer authentication flags of a node (by name, "n4"):
	// every node of a cluster needs them, joiners and restarts included.
	auth peerAuth
}

// newCluster starts a cluster whose nodes authenticate each other with a
// cluster key.
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	return newClusterAuth(t, n, keyAuth(t), extra...)
}

func newClusterAuth(t *testing.T, n int, auth peerAuth, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, nodes: map[uint64]*server{}, auth: auth}
	api, raft := map[uint64]string{}, map[uint64]string{}
	var members []string
	addrs := freeAddrs(t, 2*n)
	for i := uint64(1); i <= uint64(n); i++ {
		api[i], raft[i] = addrs[2*i-2], addrs[2*i-1]
		members = append(members, fmt.Sprintf("%d=%s", i, raft[i]))
	}
	// The nodes wait for each other to elect leaders: launch them all, then
	// wait for each.
	for i := uint64(1); i <= uint64(n); i++ {
		args := append([]string{"--node-id", fmt.Sprint(i), "--initial-members", strings.Join(members, ",")}, auth(fmt.Sprint("n", i))...)
		args = append(args, extra...)
		c.nodes[i] = launchAt(t, api[i], raft[i], args...)
	}
	for i := uint64(1); i <= uint64(n); i++ {
		c.nodes[i].waitReady()
	}
	return c
}

// endpoints lists the API addresses of the given nodes, or of all.
func (c *cluster) endpoints() []string {
	var out []string
	for i := uint64(1); i <= 7; i++ {
		if s, ok := c.nodes[i]; ok {
			out = append(out, "http://"+s.apiAddr)
		}
	}
	return out
}

func (c *cluster) admin(id uint64) wharfv1.ClusterService {
	return wharfv1.NewClusterServiceProtobufClient("http://"+c.nodes[id].apiAddr, &http.Client{Timeout: 10 * time.Second})
}

func (c *cluster) status(via uint64) *wharfv1.GetClusterStatusResponse {
	c.t.Helper()
	st, err := c.admin(via).GetClusterStatus(ctx(c.t), &wharfv1.GetClusterStatusRequest{})
	if err != nil {
		c.t.Fatalf("cluster status via node %d: %v", via, err)
	}
	return st
}

// waitFor polls cond every 200 ms for up to limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// traffic sends numbered messages until stopped, recording what was
// acknowledged and the longest gap between two acknowledgements.
type traffic struct {
	mu      sync.Mutex
	acked   map[string]bool
	errors  int
	lastOK  time.Time
	longest time.Duration
	stop    chan struct{}
	done    chan struct{}
}

func startTraffic(t *testing.T, svc wharfv1.QueueService, queue string, limit int) *traffic {
	tr := &traffic{acked: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{}), lastOK: time.Now()}
	go func() {
		defer close(tr.done)
		for i := 0; i < limit; i++ {
			select {
			case <-tr.stop:
				return
			default:
			}
			body := fmt.Sprintf("t-%06d", i)
			_, err := svc.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: queue, Body: body})
			tr.mu.Lock()
			if err == nil {
				tr.acked[body] = true
				if gap := time.Since(tr.lastOK); gap > tr.longest {
					tr.longest = gap
				}
				tr.lastOK = time.Now()
			} else {
				tr.errors++
			}
			tr.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return tr
}

func (tr *traffic) finish() (acked map[string]bool, longest time.Duration, errors int) {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.acked, tr.longest, tr.errors
}

// drainAll receives and deletes through svc until the queue is empty.
func drainAll(t *testing.T, svc wharfv1.QueueService, queue string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for empty := 0; empty < 3; {
		resp, err := svc.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: queue, MaxMessages: 10, WaitTimeSeconds: ptr(int32(1))})
		if err != nil {
			t.Fatalf("drain receive: %v", err)
		}
		if len(resp.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range resp.Messages {
			seen[m.Body]++
			if _, err := svc.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: queue, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("drain delete: %v", err)
			}
		}
	}
	return seen
}

func checkNothingLost(t *testing.T, acked map[string]bool, seen map[string]int) {
	t.Helper()
	lost := 0
	for body := range acked {
		if seen[body] == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged message %s lost", body)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", lost, len(acked))
	}
}

// leaderOfQueueShard returns the node leading the only queue shard that
// holds a partition (the test creates one queue).
func leaderOfQueueShard(st *wharfv1.GetClusterStatusResponse) uint64 {
	for _, sh := range st.Shards {
		if sh.Kind == "queue" && sh.Partitions > 0 {
			return sh.LeaderNodeId
		}
	}
	return 0
}

func TestClusterSurvivesKillOfLeader(t *testing.T) {
	c := newCluster(t, 3)
	svc := client.New(c.endpoints())
	if _, err := svc.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "busy"}); err != nil {
		t.Fatal(err)
	}
	var leader uint64
	waitFor(t, "a leader for the queue's shard", 20*time.Second, func() bool {
		leader = leaderOfQueueShard(c.status(1))
		return leader != 0
	})
	tr := startTraffic(t, svc, "busy", 100000)
	time.Sleep(2 * time.Second)
	c.nodes[leader].kill9()
	killedAt := time.Now()
	time.Sleep(5 * time.Second)
	acked, longest, errs := tr.finish()
	t.Logf("killed node %d (leader of the busy queue's shard); longest gap between acknowledged sends: %v; %d sends failed; %d acknowledged",
		leader, longest.Round(time.Millisecond), errs, len(acked))
	if time.Since(killedAt) < longest {
		t.Fatalf("sends did not resume after the kill")
	}
	// A restart needs no membership flags: the data directory knows. It
	// still needs its peer credentials.
	c.nodes[leader].extra = c.auth(fmt.Sprint("n", leader))
	c.nodes[leader].start()
	checkNothingLost(t, acked, drainAll(t, svc, "busy"))
}

func TestClusterAddAndRemoveNodeUnderTraffic(t *testing.T) {
	c := newCluster(t, 3)
	svc := client.New(c.endpoints())
	if _, err := svc.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "moving"}); err != nil {
		t.Fatal(err)
	}
	tr := startTraffic(t, svc, "moving", 100000)

	// A fourth node joins through node 2 and receives replicas.
	// No --node-id: the cluster assigns the next free one, 4.
	c.nodes[4] = newServer(t, append(c.auth("n4"), "--join", c.nodes[2].raftAddr)...)
	waitFor(t, "replicas on node 4", 60*time.Second, func() bool {
		for _, sh := range c.status(1).Shards {
			for _, r := range sh.Replicas {
				if r.NodeId == 4 && r.Health == "healthy" {
					return true
				}
			}
		}
		return false
	})
	// Node 1 is removed: its replicas move away, then it is forgotten.
	if _, err := c.admin(3).RemoveNode(ctx(t), &wharfv1.RemoveNodeRequest{NodeId: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 to be drained and forgotten", 120*time.Second, func() bool {
		for _, n := range c.status(2).Nodes {
			if n.NodeId == 1 {
				return false
			}
		}
		return true
	})
	c.nodes[1].stop()
	delete(c.nodes, 1)
	acked, longest, errs := tr.finish()
	t.Logf("membership changes under traffic: %d acknowledged, %d failed, longest gap %v", len(acked), errs, longest.Round(time.Millisecond))
	checkNothingLost(t, acked, drainAll(t, client.New(c.endpoints()), "moving"))
}

// hostsOf returns the nodes that host replicas of the queue shard holding
// the one queue the test created.
func hostsOf(st *wharfv1.GetClusterStatusResponse) map[uint64]bool {
	out := map[uint64]bool{}
	for _, sh := range st.Shards {
		if sh.Kind == "queue" && sh.Partitions > 0 {
			for _, r := range sh.Replicas {
				out[r.NodeId] = true
			}
		}
	}
	return out
}

func TestClusterLongPollAcrossNodes(t *testing.T) {
	// One replica per queue shard: the queue lives on one node, and a long
	// poll on another node must learn of a send through a third.
	c := newCluster(t, 3, "--replication-factor", "1")
	admin := client.New(c.endpoints())
	if _, err := admin.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "remote"}); err != nil {
		t.Fatal(err)
	}
	hosts := hostsOf(c.status(1))
	if len(hosts) != 1 {
		t.Fatalf("queue shard replicas on %v, want one node", hosts)
	}
	var poller, sender uint64
	for id := uint64(1); id <= 3; id++ {
		if !hosts[id] && poller == 0 {
			poller = id
		} else if !hosts[id] {
			sender = id
		}
	}
	done := make(chan *wharfv1.ReceiveMessageResponse, 1)
	go func() {
		resp, err := c.nodes[poller].client.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "remote", WaitTimeSeconds: ptr(int32(20))})
		if err != nil {
			t.Errorf("long poll on node %d: %v", poller, err)
		}
		done <- resp
	}()
	time.Sleep(500 * time.Millisecond)
	if _, err := c.nodes[sender].client.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "remote", Body: "across"}); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if len(resp.GetMessages()) != 1 || resp.Messages[0].Body != "across" {
		t.Fatalf("long poll on node %d got %v after a send through node %d", poller, resp, sender)
	}
}

func TestClusterReplacesDeadNode(t *testing.T) {
	// Snapshots every 20 entries, keeping 10 behind them: by the time the
	// new node joins, the log's start is long compacted away, so its
	// replicas can only catch up from snapshots streamed over the Raft
	// transport (snapshot chunks, not just messages).
	snap := []string{"--snapshot-entries", "20"}
	c := newCluster(t, 3, snap...)
	svc := client.New(c.endpoints())
	if _, err := svc.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "phoenix"}); err != nil {
		t.Fatal(err)
	}
	acked := c.nodes[1].sendN("phoenix", 100, "before")
	// Node 3 dies for good; the operator removes it and adds a new node.
	c.nodes[3].kill9()
	delete(c.nodes, 3)
	if _, err := c.admin(1).RemoveNode(ctx(t), &wharfv1.RemoveNodeRequest{NodeId: 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dead node 3 to be forgotten", 60*time.Second, func() bool {
		for _, n := range c.status(1).Nodes {
			if n.NodeId == 3 {
				return false
			}
		}
		return true
	})
	c.nodes[4] = newServer(t, append(append(c.auth("n4"), "--join", c.nodes[1].raftAddr), snap...)...)
	waitFor(t, "every shard back to 3 healthy replicas", 90*time.Second, func() bool {
		for _, sh := range c.status(2).Shards {
			healthy := 0
			for _, r := range sh.Replicas {
				if r.Health == "healthy" {
					healthy++
				}
			}
			if healthy != 3 {
				return false
			}
		}
		return true
	})
	for body := range c.nodes[4].sendN("phoenix", 100, "after") {
		acked[body] = "x"
	}
	seen := drainAll(t, client.New(c.endpoints()), "phoenix")
	ack := map[string]bool{}
	for b := range acked {
		ack[b] = true
	}
	checkNothingLost(t, ack, seen)
}

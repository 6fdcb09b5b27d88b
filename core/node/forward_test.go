package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// These tests split one cluster into a back node, a real single node that
// hosts every shard, and a front node that hosts none, so that everything
// asked of the front is forwarded to the back through memPeers.

// memPeers is Peers in memory: a call to node id N is served by the
// NodeService of nodes[N], as transport/peer does over HTTP.
type memPeers struct {
	mu    sync.Mutex
	nodes map[uint64]*Node
	// down makes a node answer this error without being asked.
	down  map[uint64]error
	calls []string // "<method> <node>/<shard>"
}

func newMemPeers(nodes map[uint64]*Node) *memPeers {
	return &memPeers{nodes: nodes, down: map[uint64]error{}}
}

// target records the call and returns the node that serves it.
func (m *memPeers) target(method string, to Peer, shardID uint64) (nodev1.NodeService, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("%s %d/%d", method, to.ID, shardID))
	if err := m.down[to.ID]; err != nil {
		return nil, err
	}
	n, ok := m.nodes[to.ID]
	if !ok {
		return nil, core.Errorf(core.Unavailable, "no node %d", to.ID)
	}
	return n.NodeService(), nil
}

func (m *memPeers) setDown(nodeID uint64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down[nodeID] = err
}

// takeCalls returns the calls so far and forgets them.
func (m *memPeers) takeCalls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls
	m.calls = nil
	return c
}

func (m *memPeers) Propose(ctx context.Context, to Peer, shardID uint64, cmd []byte) ([]byte, error) {
	s, err := m.target("propose", to, shardID)
	if err != nil {
		return nil, err
	}
	resp, err := s.Propose(ctx, &nodev1.ProposeRequest{ShardId: shardID, Command: cmd})
	return resp.GetResult(), err
}

func (m *memPeers) Read(ctx context.Context, to Peer, shardID uint64, q *raftv1.ShardQuery) (*raftv1.ShardQueryResult, error) {
	s, err := m.target("read", to, shardID)
	if err != nil {
		return nil, err
	}
	resp, err := s.Read(ctx, &nodev1.ReadRequest{ShardId: shardID, Query: q})
	return resp.GetResult(), err
}

func (m *memPeers) Wait(ctx context.Context, to Peer, shardID uint64, partitionIDs []uint64, wait, lookback time.Duration) (bool, error) {
	s, err := m.target("wait", to, shardID)
	if err != nil {
		return false, err
	}
	resp, err := s.Wait(ctx, &nodev1.WaitRequest{
		ShardId: shardID, PartitionIds: partitionIDs,
		WaitMs: uint32(wait.Milliseconds()), LookbackMs: uint32(lookback.Milliseconds() + 1),
	})
	return resp.GetWoken(), err
}

func (m *memPeers) Status(ctx context.Context, to Peer) ([]*nodev1.ReplicaStatus, error) {
	s, err := m.target("status", to, 0)
	if err != nil {
		return nil, err
	}
	resp, err := s.Status(ctx, &nodev1.StatusRequest{})
	return resp.GetReplicas(), err
}

// backAddr is the API address the back node is registered with.
const backAddr = "node-1"

// startBack starts the back node: a single node hosting every shard, with
// its API address in its node record.
func startBack(t *testing.T) *testNode {
	t.Helper()
	back := startNode(t, func(c *Config) { c.APIAddr = backAddr })
	res := must(back.proposeMeta(ctx(t), &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{
		Node: &raftv1.NodeRecord{NodeId: back.cfg.NodeID, RaftAddr: back.addr, ApiAddr: backAddr},
	}}}))
	if err := statusError(res.GetStatus()); err != nil {
		t.Fatalf("register the back node's API address: %v", err)
	}
	return back
}

// startFront starts a node that runs a NodeHost but no replica, so it
// forwards everything. It knows the back node's address (as a join would
// tell it); the rest it reads from the metadata shard through the back.
func startFront(t *testing.T, id uint64, peers Peers, opts func(*Config)) *Node {
	t.Helper()
	cfg := Config{NodeID: id, DataDir: t.TempDir(), RaftAddr: freeAddr(t), Peers: peers,
		Logger: testLogger(), Now: time.Now, Rand: rand.Reader}
	if opts != nil {
		opts(&cfg)
	}
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir: cfg.DataDir, WALDir: cfg.DataDir, RTTMillisecond: rttMillis, RaftAddress: cfg.RaftAddr,
		Expert: config.ExpertConfig{LogDBFactory: tan.Factory, LogDB: config.GetTinyMemLogDBConfig()},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, nh: nh, ids: idSource{r: cfg.Rand}, waits: newWakeRegistry(),
		moverKick: make(chan struct{}, 1), dropKick: make(chan struct{}, 1), stop: make(chan struct{})}
	n.learnNodes([]*raftv1.NodeRecord{{NodeId: 1, RaftAddr: backAddr}})
	t.Cleanup(func() { n.Close() })
	return n
}

// callCounts returns how many calls of each "<method> <node>" there were.
func callCounts(calls []string) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		var method string
		var node, shardID uint64
		fmt.Sscanf(c, "%s %d/%d", &method, &node, &shardID)
		out[fmt.Sprintf("%s %d", method, node)]++
	}
	return out
}

func TestFrontServesEverythingThroughTheBack(t *testing.T) {
	back := startBack(t)
	peers := newMemPeers(map[uint64]*Node{1: back.Node})
	front := &testNode{Node: startFront(t, 2, peers, nil), t: t}

	createQueue(t, front, &wharfv1.CreateQueueRequest{Name: "orders"})
	send(t, front, "orders", "a")
	send(t, front, "orders", "b")
	if q := getQueue(t, front, "orders"); q.GetApproximateNumberOfMessages() != 2 {
		t.Fatalf("counts through the front: %v", q)
	}
	got := receive(t, front, &wharfv1.ReceiveMessageRequest{Queue: "orders", MaxMessages: 10})
	if bodies(got) != "a,b" {
		t.Fatalf("received %q through the front", bodies(got))
	}
	must(front.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "orders", ReceiptHandle: got[0].GetReceiptHandle()}))
	// The back sees what the front did.
	if q := getQueue(t, back, "orders"); q.GetApproximateNumberOfMessagesNotVisible() != 1 {
		t.Fatalf("counts on the back: %v", q)
	}
	_, err := front.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "missing"})
	wantCode(t, err, core.NotFound, "")

	// Proposals and reads of the metadata shard and of a queue shard all
	// went to node 1; the queue shard's hosts came from the metadata shard.
	shards := map[string]bool{}
	for _, c := range peers.takeCalls() {
		shards[c] = true
	}
	queueShard := must(back.findQueue(ctx(t), "orders")).GetPartitions()[0].GetShardId()
	for _, want := range []string{"propose 1/1", "read 1/1", fmt.Sprintf("propose 1/%d", queueShard), fmt.Sprintf("read 1/%d", queueShard)} {
		if !shards[want] {
			t.Errorf("no %q among the forwarded calls %v", want, shards)
		}
	}
}

func TestForwardedRequestsNeverHopAgain(t *testing.T) {
	back := startBack(t)
	peers := newMemPeers(map[uint64]*Node{1: back.Node})
	front := startFront(t, 2, peers, nil)
	svc := front.NodeService()
	c := ctx(t)

	cmd := must(proto.Marshal(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: "x"}}}))
	_, err := svc.Propose(c, &nodev1.ProposeRequest{ShardId: metaShardID, Command: cmd})
	wantCode(t, err, core.Unavailable, "")
	q := must(shard.QueryToProto(shard.MetaQueueQuery{Name: "x"}))
	_, err = svc.Read(c, &nodev1.ReadRequest{ShardId: metaShardID, Query: q})
	wantCode(t, err, core.Unavailable, "")
	_, err = svc.Wait(c, &nodev1.WaitRequest{ShardId: metaShardID, PartitionIds: []uint64{7}, WaitMs: 10})
	wantCode(t, err, core.Unavailable, "")
	if st := must(svc.Status(c, &nodev1.StatusRequest{})); len(st.GetReplicas()) != 0 {
		t.Fatalf("a node without replicas reports %v", st)
	}
	// The front knows where the shard is, yet it passed nothing on.
	if calls := peers.takeCalls(); len(calls) != 0 {
		t.Fatalf("a forwarded request was forwarded again: %v", calls)
	}
}

func TestForwardMovesOnOnlyFromUnavailable(t *testing.T) {
	back := startBack(t)
	peers := newMemPeers(map[uint64]*Node{1: back.Node})
	front := startFront(t, 2, peers, nil)
	front.learnNodes([]*raftv1.NodeRecord{{NodeId: 3, RaftAddr: "node-3"}})
	front.routes.worked(metaShardID, 3) // node 3 served it last
	c := ctx(t)

	// Node 3 is down: the read moves on to node 1, which is preferred from
	// then on.
	peers.setDown(3, core.Errorf(core.Unavailable, "connection refused"))
	must(front.read(c, metaShardID, shard.MetaQueueQuery{Name: "x"}))
	if got := peers.takeCalls(); !slices.Equal(got, []string{"read 3/1", "read 1/1"}) {
		t.Fatalf("calls %v, want node 3 then node 1", got)
	}
	must(front.read(c, metaShardID, shard.MetaQueueQuery{Name: "x"}))
	if got := peers.takeCalls(); !slices.Equal(got, []string{"read 1/1"}) {
		t.Fatalf("calls %v, want node 1 first now", got)
	}

	// A proposal whose outcome is unknown is never sent to another node:
	// it could be applied twice.
	peers.setDown(3, nil)
	peers.setDown(1, core.Errorf(core.DeadlineExceeded, "timed out; the request may or may not have taken effect"))
	_, err := front.proposeMeta(c, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: "x"}}})
	wantCode(t, err, core.DeadlineExceeded, "")
	if got := peers.takeCalls(); !slices.Equal(got, []string{"propose 1/1"}) {
		t.Fatalf("calls %v, want node 1 only", got)
	}

	// Every node unavailable: Unavailable, after a bounded number of
	// passes over the known nodes (routes may be briefly incomplete).
	peers.setDown(1, core.Errorf(core.Unavailable, "shutting down"))
	peers.setDown(3, core.Errorf(core.Unavailable, "shutting down"))
	_, err = front.read(c, metaShardID, shard.MetaQueueQuery{Name: "x"})
	wantCode(t, err, core.Unavailable, "")
	if got := callCounts(peers.takeCalls()); got["read 1"] != maxForwardPasses || got["read 3"] != maxForwardPasses || len(got) != 2 {
		t.Fatalf("calls %v, want %d reads each of nodes 1 and 3", got, maxForwardPasses)
	}
}

func TestNodeWithoutRoutesIsUnavailable(t *testing.T) {
	front := startFront(t, 2, newMemPeers(nil), nil)
	front.routes = routeTable{} // forget the back
	_, err := front.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "orders"})
	wantCode(t, err, core.Unavailable, "")
}

func TestLongPollOnTheFrontWakesOnSend(t *testing.T) {
	for _, via := range []string{"back", "front"} {
		t.Run("sent through the "+via, func(t *testing.T) {
			back := startBack(t)
			peers := newMemPeers(map[uint64]*Node{1: back.Node})
			// With the fallback re-poll an hour away, only a wake on the
			// back, passed on by Wait, can end the poll before its 20 s.
			front := &testNode{Node: startFront(t, 2, peers, func(c *Config) { c.pollInterval = time.Hour }), t: t}
			createQueue(t, back, &wharfv1.CreateQueueRequest{Name: "jobs"})
			sender := back
			if via == "front" {
				sender = front
			}
			type result struct {
				msgs []*wharfv1.Message
				err  error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := front.ReceiveMessage(context.Background(),
					&wharfv1.ReceiveMessageRequest{Queue: "jobs", WaitTimeSeconds: i32(20)})
				done <- result{resp.GetMessages(), err}
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case r := <-done:
				t.Fatalf("long poll returned before the send: %v %v", r.msgs, r.err)
			default:
			}
			send(t, sender, "jobs", "wake up")
			r := <-done
			if r.err != nil || bodies(r.msgs) != "wake up" {
				t.Fatalf("long poll got %v, %v: the wake did not cross", r.msgs, r.err)
			}
			if got := callCounts(peers.takeCalls()); got["wait 1"] == 0 {
				t.Fatalf("no Wait was forwarded: %v", got)
			}
		})
	}
}

func TestWaitSeesWakesOfTheLookback(t *testing.T) {
	back := startBack(t)
	svc := back.NodeService()
	back.waits.wake([]uint64{42})
	time.Sleep(20 * time.Millisecond)

	// A wake within the lookback answers at once; otherwise this Wait
	// would run into the caller's deadline.
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := must(svc.Wait(c, &nodev1.WaitRequest{ShardId: metaShardID, PartitionIds: []uint64{41, 42}, WaitMs: 20000, LookbackMs: 10000}))
	if !resp.GetWoken() {
		t.Fatal("a wake within the lookback did not count")
	}
	// Older than the lookback: it waits, until wait_ms.
	resp = must(svc.Wait(c, &nodev1.WaitRequest{ShardId: metaShardID, PartitionIds: []uint64{42}, WaitMs: 50, LookbackMs: 1}))
	if resp.GetWoken() {
		t.Fatal("a wake older than the lookback counted")
	}
	// A wake while waiting ends the Wait (or, if it comes first, counts
	// through the lookback).
	go func() {
		time.Sleep(100 * time.Millisecond)
		back.waits.wake([]uint64{43})
	}()
	resp = must(svc.Wait(c, &nodev1.WaitRequest{ShardId: metaShardID, PartitionIds: []uint64{43}, WaitMs: 20000, LookbackMs: 10000}))
	if !resp.GetWoken() {
		t.Fatal("the wake did not end the Wait")
	}
	_, err := svc.Wait(c, &nodev1.WaitRequest{ShardId: metaShardID})
	wantCode(t, err, core.InvalidArgument, "partition_ids")
}

func TestStatusDescribesLocalReplicas(t *testing.T) {
	back := startBack(t)
	createQueue(t, back, &wharfv1.CreateQueueRequest{Name: "orders"})
	send(t, back, "orders", "a")
	queueShard := must(back.findQueue(ctx(t), "orders")).GetPartitions()[0].GetShardId()

	st := must(back.NodeService().Status(ctx(t), &nodev1.StatusRequest{})).GetReplicas()
	if len(st) < 2 || st[0].GetShardId() != metaShardID {
		t.Fatalf("status %v: want the metadata shard first, then queue shards", st)
	}
	applied := map[uint64]bool{}
	for _, r := range st {
		if !r.GetIsLeader() || r.GetLeaderReplicaId() != r.GetReplicaId() || r.GetMembers()[r.GetReplicaId()] != back.addr {
			t.Errorf("replica status %v: want a leader, a member at %s", r, back.addr)
		}
		applied[r.GetShardId()] = r.GetAppliedIndex() > 0
	}
	if !applied[metaShardID] || !applied[queueShard] {
		t.Errorf("status %v: want entries applied on shards %d and %d", st, metaShardID, queueShard)
	}
}

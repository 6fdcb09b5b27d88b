package placement

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/wharfmq/wharf/core/meta"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// maxSteps bounds every convergence: a scenario that needs more moves than
// this after one change is a bug. (A change moves at most about 15
// replicas, two moves each; the worst random scenario takes about 30.)
const maxSteps = 100

func allCaughtUp(uint64, uint64) bool { return true }

// cluster is a meta.State driven by placement, as the metadata leader
// would drive it, with checks after every move.
type cluster struct {
	t     *testing.T
	s     *meta.State
	now   int64
	moves []Action
}

func newCluster(t *testing.T, nodes int, queueShards, rf int32) *cluster {
	t.Helper()
	c := &cluster{t: t, s: meta.New()}
	init := &raftv1.InitCluster{QueueShards: queueShards, ReplicationFactor: rf}
	for id := range uint64(nodes) {
		init.Nodes = append(init.Nodes, node(id+1))
	}
	c.apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: init}})
	return c
}

func node(id uint64) *raftv1.NodeRecord {
	return &raftv1.NodeRecord{NodeId: id, RaftAddr: fmt.Sprintf("n%d:7000", id), ApiAddr: fmt.Sprintf("n%d:8000", id)}
}

func (c *cluster) apply(cmd *raftv1.MetaCommand) *raftv1.MetaResult {
	c.t.Helper()
	c.now++
	cmd.NowMs = c.now
	res := c.s.Apply(cmd)
	if res.GetStatus() != nil {
		c.t.Fatalf("%v: %v", cmd, res.GetStatus())
	}
	return res
}

func (c *cluster) addNode(id uint64) {
	c.t.Helper()
	c.apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{Node: node(id)}}})
}

func (c *cluster) drain(id uint64) {
	c.t.Helper()
	c.apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_RemoveNode{RemoveNode: &raftv1.RemoveNode{NodeId: id}}})
}

// step plans one move and applies it; it returns the move (None when
// there was nothing to do). Every move must apply, and a removal must
// leave its shard at least the replicas it wants.
func (c *cluster) step(caughtUp func(uint64, uint64) bool) Action {
	c.t.Helper()
	a := Next(c.s.Cluster(), caughtUp)
	if a.Kind == None {
		return a
	}
	c.apply(a.Command())
	c.moves = append(c.moves, a)
	st := c.s.Cluster()
	v := newView(st)
	for _, sh := range st.GetShards() {
		if len(sh.GetReplicaSet()) == 0 {
			c.t.Fatalf("after %v: shard %d has no replica", a, sh.GetShardId())
		}
		if a.Kind == RemoveReplica && sh.GetShardId() == a.ShardID && len(sh.GetReplicaSet()) < v.desired(sh) {
			c.t.Fatalf("after %v: shard %d has %d replicas, wants %d", a, sh.GetShardId(), len(sh.GetReplicaSet()), v.desired(sh))
		}
	}
	return a
}

// converge steps until placement has nothing to do and checks the result.
func (c *cluster) converge() {
	c.t.Helper()
	for range maxSteps {
		if c.step(allCaughtUp).Kind == None {
			c.checkConverged()
			return
		}
	}
	c.t.Fatalf("no convergence after %d moves; last moves %v", maxSteps, c.moves[max(0, len(c.moves)-6):])
}

// checkConverged checks the converged layout: no DRAINING node left,
// every shard at its desired count on distinct ACTIVE nodes, the loads of
// ACTIVE nodes within one of each other.
func (c *cluster) checkConverged() {
	c.t.Helper()
	st := c.s.Cluster()
	active := 0
	for _, n := range st.GetNodes() {
		if n.GetState() != raftv1.NodeState_NODE_STATE_ACTIVE {
			c.t.Fatalf("node %d is still registered as %v", n.GetNodeId(), n.GetState())
		}
		active++
	}
	load := c.loads()
	for _, sh := range st.GetShards() {
		want := min(max(int(st.GetReplicationFactor()), 1), active)
		if sh.GetShardId() == meta.MetaShardID {
			want = min(3, active)
		}
		nodes := nodesOf(sh)
		slices.Sort(nodes)
		if len(nodes) != want || len(slices.Compact(nodes)) != want {
			c.t.Fatalf("shard %d on nodes %v, want %d distinct", sh.GetShardId(), nodesOf(sh), want)
		}
	}
	lo, hi := -1, -1
	for _, n := range st.GetNodes() {
		l := load[n.GetNodeId()]
		if lo < 0 || l < lo {
			lo = l
		}
		hi = max(hi, l)
	}
	if hi-lo > 1 {
		c.t.Fatalf("loads %v differ by more than 1", load)
	}
}

// loads counts every node's replicas.
func (c *cluster) loads() map[uint64]int {
	load := map[uint64]int{}
	for _, n := range c.s.Nodes() {
		load[n.GetNodeId()] = 0
	}
	for _, sh := range c.s.AllShards() {
		for _, r := range sh.GetReplicaSet() {
			load[r.GetNodeId()]++
		}
	}
	return load
}

func nodesOf(sh *raftv1.ShardRecord) []uint64 {
	var out []uint64
	for _, r := range sh.GetReplicaSet() {
		out = append(out, r.GetNodeId())
	}
	return out
}

func TestInitialLayoutIsConverged(t *testing.T) {
	for _, tt := range []struct {
		nodes       int
		queueShards int32
		rf          int32
	}{{1, 4, 1}, {1, 4, 3}, {3, 4, 3}, {3, 1, 3}, {3, 7, 1}, {3, 4, 5}} {
		t.Run(fmt.Sprintf("%d nodes, %d shards, rf %d", tt.nodes, tt.queueShards, tt.rf), func(t *testing.T) {
			c := newCluster(t, tt.nodes, tt.queueShards, tt.rf)
			if a := Next(c.s.Cluster(), allCaughtUp); a.Kind != None {
				t.Fatalf("Next = %v, want none", a)
			}
			c.checkConverged()
		})
	}
}

func TestLargeInitialClusterShrinksTheMetadataShard(t *testing.T) {
	c := newCluster(t, 5, 4, 3)
	// Every initial member starts the metadata shard; it keeps three.
	want := []Action{
		{Kind: RemoveReplica, ShardID: 1, NodeID: 1, ReplicaID: 1, Version: 1},
		{Kind: RemoveReplica, ShardID: 1, NodeID: 2, ReplicaID: 2, Version: 2},
	}
	for i, w := range want {
		if a := c.step(allCaughtUp); a != w {
			t.Fatalf("move %d = %v, want %v", i, a, w)
		}
	}
	c.converge()
}

func TestAddFourthNode(t *testing.T) {
	c := newCluster(t, 3, 4, 3)
	c.addNode(4)
	// Nodes 1-3 hold all 15 replicas; node 4 takes queue shards first.
	want := []Action{
		{Kind: AddReplica, ShardID: 2, NodeID: 4, Version: 1},
		{Kind: RemoveReplica, ShardID: 2, NodeID: 1, ReplicaID: 1000, Version: 2},
		{Kind: AddReplica, ShardID: 3, NodeID: 4, Version: 1},
		{Kind: RemoveReplica, ShardID: 3, NodeID: 2, ReplicaID: 1004, Version: 2},
	}
	for i, w := range want {
		if a := c.step(allCaughtUp); a != w {
			t.Fatalf("move %d = %v, want %v", i, a, w)
		}
	}
	c.converge()
	load := c.loads()
	if load[4] < 3 {
		t.Fatalf("loads %v: node 4 holds too few replicas", load)
	}
	if n := len(c.s.Shard(meta.MetaShardID).GetReplicaSet()); n != 3 {
		t.Fatalf("metadata shard has %d replicas, want 3", n)
	}
	for _, sh := range c.s.Shards() {
		if n := len(sh.GetReplicaSet()); n != 3 {
			t.Fatalf("shard %d has %d replicas, want 3", sh.GetShardId(), n)
		}
	}
}

func TestDrainNode(t *testing.T) {
	c := newCluster(t, 4, 4, 3)
	c.converge()
	c.drain(2)
	// Every shard keeps three replicas throughout: add first, then remove.
	for range maxSteps {
		a := c.step(allCaughtUp)
		for _, sh := range c.s.AllShards() {
			if n := len(sh.GetReplicaSet()); n < 3 {
				t.Fatalf("after %v: shard %d has %d replicas", a, sh.GetShardId(), n)
			}
		}
		if a.Kind == None {
			break
		}
	}
	c.checkConverged()
	if c.s.Node(2) != nil {
		t.Fatal("node 2 was not forgotten")
	}
	if last := c.moves[len(c.moves)-1]; last != (Action{Kind: ForgetNode, NodeID: 2}) {
		t.Fatalf("last move = %v, want forgetting node 2", last)
	}
	for _, sh := range c.s.AllShards() {
		if got := nodesOf(sh); slices.Contains(got, 2) || len(got) != 3 {
			t.Fatalf("shard %d on nodes %v", sh.GetShardId(), got)
		}
	}
}

func TestNotCaughtUpBlocks(t *testing.T) {
	c := newCluster(t, 3, 4, 3)
	c.addNode(4)
	added := c.step(allCaughtUp)
	if added.Kind != AddReplica {
		t.Fatalf("first move = %v", added)
	}
	newID := c.s.Shard(added.ShardID).GetReplicaSet()[3].GetReplicaId()
	lagging := func(shardID, replicaID uint64) bool { return shardID != added.ShardID || replicaID != newID }
	for range 3 {
		if a := Next(c.s.Cluster(), lagging); a.Kind != None {
			t.Fatalf("Next with replica %d lagging = %v, want none", newID, a)
		}
	}
	if a := Next(c.s.Cluster(), allCaughtUp); a.Kind != RemoveReplica || a.ShardID != added.ShardID || a.ReplicaID == newID {
		t.Fatalf("Next once caught up = %v", a)
	}

	// A lagging replica on a node being drained does not block its own
	// removal.
	c.drain(4)
	a := Next(c.s.Cluster(), lagging)
	want := Action{Kind: RemoveReplica, ShardID: added.ShardID, NodeID: 4, ReplicaID: newID, Version: 2}
	if a != want {
		t.Fatalf("Next after draining node 4 = %v, want %v", a, want)
	}
}

func TestReplicationFactorOne(t *testing.T) {
	c := newCluster(t, 3, 6, 1)
	c.checkConverged()
	c.addNode(4)
	c.converge()
	if c.loads()[4] < 2 {
		t.Fatalf("loads %v", c.loads())
	}
	// A single replica moves by growing to two first.
	c.drain(1)
	c.converge()
	if c.s.Node(1) != nil {
		t.Fatal("node 1 was not forgotten")
	}
	for _, sh := range c.s.Shards() {
		if n := len(sh.GetReplicaSet()); n != 1 {
			t.Fatalf("shard %d has %d replicas", sh.GetShardId(), n)
		}
	}
}

func TestReplicationFactorFive(t *testing.T) {
	c := newCluster(t, 3, 4, 5)
	c.checkConverged()
	for id := uint64(4); id <= 7; id++ {
		c.addNode(id)
		c.converge()
	}
	for _, sh := range c.s.AllShards() {
		want := 5
		if sh.GetShardId() == meta.MetaShardID {
			want = 3
		}
		if n := len(sh.GetReplicaSet()); n != want {
			t.Fatalf("shard %d has %d replicas, want %d", sh.GetShardId(), n, want)
		}
	}
	// Below five nodes, queue shards shrink with the cluster.
	c.drain(7)
	c.drain(6)
	c.drain(5)
	c.converge()
	for _, sh := range c.s.Shards() {
		if n := len(sh.GetReplicaSet()); n != 4 {
			t.Fatalf("shard %d has %d replicas, want 4", sh.GetShardId(), n)
		}
	}
}

func TestSingleNode(t *testing.T) {
	c := newCluster(t, 1, 4, 1)
	if a := Next(c.s.Cluster(), allCaughtUp); a.Kind != None {
		t.Fatalf("Next = %v", a)
	}
	// Two nodes, then back to one: the last replica of each shard moves,
	// it is never removed.
	c.addNode(2)
	c.converge()
	c.drain(1)
	c.converge()
	for _, sh := range c.s.AllShards() {
		if got := nodesOf(sh); !slices.Equal(got, []uint64{2}) {
			t.Fatalf("shard %d on nodes %v, want [2]", sh.GetShardId(), got)
		}
	}
}

func TestNothingActive(t *testing.T) {
	// Meta never lets this happen; placement must still not plan onto
	// nothing nor remove the only replica.
	st := &raftv1.MetaState{
		Nodes:             []*raftv1.NodeRecord{{NodeId: 1, State: raftv1.NodeState_NODE_STATE_DRAINING}},
		Shards:            []*raftv1.ShardRecord{{ShardId: 1, Version: 1, ReplicaSet: []*raftv1.Replica{{ReplicaId: 1, NodeId: 1, Initial: true}}}},
		ReplicationFactor: 1,
	}
	if a := Next(st, nil); a.Kind != None {
		t.Fatalf("Next = %v", a)
	}
	if a := Next(&raftv1.MetaState{}, nil); a.Kind != None {
		t.Fatalf("Next on an empty state = %v", a)
	}
}

func TestForgetsDrainedNodes(t *testing.T) {
	c := newCluster(t, 3, 2, 2)
	c.addNode(4)
	c.drain(4)
	if a := Next(c.s.Cluster(), nil); a != (Action{Kind: ForgetNode, NodeID: 4}) {
		t.Fatalf("Next = %v, want forgetting node 4", a)
	}
}

func TestCommand(t *testing.T) {
	if (Action{}).Command() != nil {
		t.Fatal("None has a command")
	}
	for _, a := range []Action{
		{Kind: AddReplica, ShardID: 2, NodeID: 3, Version: 4},
		{Kind: RemoveReplica, ShardID: 2, NodeID: 3, ReplicaID: 1001, Version: 4},
		{Kind: ForgetNode, NodeID: 3},
	} {
		cmd := a.Command()
		got := Action{Kind: a.Kind}
		switch op := cmd.GetOp().(type) {
		case *raftv1.MetaCommand_AddReplica:
			got.ShardID, got.NodeID, got.Version = op.AddReplica.GetShardId(), op.AddReplica.GetNodeId(), op.AddReplica.GetExpectedVersion()
		case *raftv1.MetaCommand_RemoveReplica:
			got.ShardID, got.ReplicaID, got.Version = op.RemoveReplica.GetShardId(), op.RemoveReplica.GetReplicaId(), op.RemoveReplica.GetExpectedVersion()
			got.NodeID = a.NodeID // informational only: the command names the replica
		case *raftv1.MetaCommand_ForgetNode:
			got.NodeID = op.ForgetNode.GetNodeId()
		}
		if got != a {
			t.Fatalf("%v: command %v", a, cmd)
		}
	}
}

// TestConvergesFromAnywhere drives random clusters through random joins and
// drains, some while a previous change is still converging, and checks that
// every phase converges within maxSteps, never leaves a shard short, and
// ends balanced.
func TestConvergesFromAnywhere(t *testing.T) {
	rng := rand.New(rand.NewSource(20261124))
	for scenario := range 300 {
		nodes := 1 + rng.Intn(7)
		shards := int32(1 + rng.Intn(16))
		rf := int32(1 + rng.Intn(5))
		name := fmt.Sprintf("scenario %d: %d nodes, %d shards, rf %d", scenario, nodes, shards, rf)
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, nodes, shards, rf)
			c.converge()
			nextID := uint64(nodes + 1)
			for range 6 {
				// Sometimes change the cluster in the middle of a
				// previous change.
				for range rng.Intn(4) {
					c.step(allCaughtUp)
				}
				var active []uint64
				for _, n := range c.s.Nodes() {
					if n.GetState() == raftv1.NodeState_NODE_STATE_ACTIVE {
						active = append(active, n.GetNodeId())
					}
				}
				switch {
				case len(c.s.Nodes()) < meta.MaxNodes && (len(active) == 1 || rng.Intn(2) == 0):
					c.addNode(nextID)
					nextID++
				case len(active) > 1:
					c.drain(active[rng.Intn(len(active))])
				}
				c.converge()
			}
		})
	}
}

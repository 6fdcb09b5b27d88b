package meta

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

func addNodeCmd(now int64, n *raftv1.NodeRecord) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{Node: n}}}
}

func removeNodeCmd(now int64, id uint64) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_RemoveNode{RemoveNode: &raftv1.RemoveNode{NodeId: id}}}
}

func forgetNodeCmd(now int64, id uint64) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_ForgetNode{ForgetNode: &raftv1.ForgetNode{NodeId: id}}}
}

func addReplicaCmd(now int64, shardID, nodeID, version uint64) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_AddReplica{AddReplica: &raftv1.AddReplica{
		ShardId: shardID, NodeId: nodeID, ExpectedVersion: version,
	}}}
}

func removeReplicaCmd(now int64, shardID, replicaID, version uint64) *raftv1.MetaCommand {
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_RemoveReplica{RemoveReplica: &raftv1.RemoveReplica{
		ShardId: shardID, ReplicaId: replicaID, ExpectedVersion: version,
	}}}
}

// replicas builds a replica set from (replica id, node id) pairs.
func replicas(initial bool, pairs ...uint64) []*raftv1.Replica {
	var out []*raftv1.Replica
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, &raftv1.Replica{ReplicaId: pairs[i], NodeId: pairs[i+1], Initial: initial})
	}
	return out
}

// checkUnchanged fails unless s equals the state marshalled in before, but
// for the clock, which every command moves.
func checkUnchanged(t *testing.T, before []byte, s *State) {
	t.Helper()
	want := New()
	if err := want.Unmarshal(before); err != nil {
		t.Fatal(err)
	}
	want.clock = s.clock
	a, _ := want.Marshal()
	b, _ := s.Marshal()
	if !bytes.Equal(a, b) {
		t.Fatal("the command changed the state")
	}
}

// nodesOf returns the node ids of a shard's replicas, in replica order.
func nodesOf(sh *raftv1.ShardRecord) []uint64 {
	var out []uint64
	for _, r := range sh.GetReplicaSet() {
		out = append(out, r.GetNodeId())
	}
	return out
}

func TestInitCluster(t *testing.T) {
	s := New()
	res := s.Apply(initClusterCmd(50, 3, 3, 3, 1, 2))
	checkStatus(t, res, ok, "")

	var wantNodes []*raftv1.NodeRecord
	for _, id := range []uint64{1, 2, 3} {
		n := nodeRec(id)
		n.State = nodeActive
		n.AddedMs = 50
		wantNodes = append(wantNodes, n)
	}
	if got := s.Nodes(); !slices.EqualFunc(got, wantNodes, func(a, b *raftv1.NodeRecord) bool { return proto.Equal(a, b) }) {
		t.Fatalf("Nodes() = %v, want %v", got, wantNodes)
	}
	wantShards := []*raftv1.ShardRecord{
		// The metadata shard's replicas are numbered like their nodes.
		{ShardId: 1, Version: 1, ReplicaSet: replicas(true, 1, 1, 2, 2, 3, 3)},
		{ShardId: 2, Version: 1, ReplicaSet: replicas(true, 1000, 1, 1001, 2, 1002, 3)},
		{ShardId: 3, Version: 1, ReplicaSet: replicas(true, 1003, 1, 1004, 2, 1005, 3)},
		{ShardId: 4, Version: 1, ReplicaSet: replicas(true, 1006, 1, 1007, 2, 1008, 3)},
	}
	if got := s.AllShards(); !slices.EqualFunc(got, wantShards, func(a, b *raftv1.ShardRecord) bool { return proto.Equal(a, b) }) {
		t.Fatalf("AllShards() = %v, want %v", got, wantShards)
	}
	if got := s.Shards(); len(got) != 3 || got[0].GetShardId() != 2 {
		t.Fatalf("Shards() = %v, want the queue shards 2 to 4", got)
	}
	if s.ReplicationFactor() != 3 || s.nextReplicaID != 1009 {
		t.Fatalf("replication factor %d, next replica id %d; want 3, 1009", s.ReplicationFactor(), s.nextReplicaID)
	}

	// Every other initial member proposes it too: nothing changes, even
	// if their view differs.
	before, _ := s.Marshal()
	checkStatus(t, s.Apply(initClusterCmd(60, 8, 1, 1, 2, 3)), ok, "")
	checkStatus(t, s.Apply(initClusterCmd(60, 8, 1, 4)), ok, "")
	checkUnchanged(t, before, s)
}

func TestInitClusterSpreadsReplicas(t *testing.T) {
	for n := 1; n <= MaxNodes; n++ {
		for rf := int32(1); rf <= MaxReplicationFactor; rf++ {
			for qs := int32(1); qs <= 20; qs++ {
				var ids []uint64
				for i := range n {
					ids = append(ids, uint64(10*(i+1)))
				}
				s := New()
				apply(t, s, initClusterCmd(1, qs, rf, ids...))
				k := min(int(rf), n)
				count := map[uint64]int{}
				for _, sh := range s.AllShards() {
					nodes := nodesOf(sh)
					want := k
					if sh.GetShardId() == MetaShardID {
						want = n
					}
					slices.Sort(nodes)
					if len(nodes) != want || len(slices.Compact(nodes)) != want {
						t.Fatalf("n=%d rf=%d qs=%d: shard %d on nodes %v, want %d distinct", n, rf, qs, sh.GetShardId(), nodesOf(sh), want)
					}
					for _, id := range nodes {
						count[id]++
					}
				}
				lo, hi := count[ids[0]], count[ids[0]]
				for _, id := range ids {
					lo, hi = min(lo, count[id]), max(hi, count[id])
				}
				if hi-lo > 1 {
					t.Fatalf("n=%d rf=%d qs=%d: per-node replica counts %v differ by more than 1", n, rf, qs, count)
				}
			}
		}
	}
}

func TestInitClusterRejects(t *testing.T) {
	many := make([]uint64, MaxNodes+1)
	for i := range many {
		many[i] = uint64(i + 1)
	}
	withNodes := func(nodes ...*raftv1.NodeRecord) *raftv1.MetaCommand {
		return &raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: &raftv1.InitCluster{
			Nodes: nodes, QueueShards: 1, ReplicationFactor: 1,
		}}}
	}
	for _, tt := range []struct {
		name string
		cmd  *raftv1.MetaCommand
		msg  string
	}{
		{"no nodes", initClusterCmd(1, 1, 1), "nodes: must list 1 to 7 nodes, got 0"},
		{"too many nodes", initClusterCmd(1, 1, 1, many...), "got 8"},
		{"node id 0", initClusterCmd(1, 1, 1, 1, 0), "nodes[1].node_id: must be 1 to 999, got 0"},
		{"node id 1000", initClusterCmd(1, 1, 1, 1000), "got 1000"},
		{"duplicate id", initClusterCmd(1, 1, 1, 2, 1, 2), "nodes[2].node_id: 2 is listed twice"},
		{"nil node", withNodes(nodeRec(1), nil), "nodes[1]: missing"},
		{"no raft address", withNodes(&raftv1.NodeRecord{NodeId: 1, ApiAddr: "a"}), "nodes[0].raft_addr"},
		{"shared address", withNodes(nodeRec(1), &raftv1.NodeRecord{NodeId: 2, RaftAddr: "x", ApiAddr: "n1:8000"}),
			`nodes[1]: address "n1:8000" is listed twice`},
		{"no queue shards", initClusterCmd(1, 0, 1, 1), "queue_shards: must be 1 to 256, got 0"},
		{"too many queue shards", initClusterCmd(1, 257, 1, 1), "got 257"},
		{"replication factor 0", initClusterCmd(1, 1, 0, 1), "replication_factor: must be 1 to 5, got 0"},
		{"replication factor 6", initClusterCmd(1, 1, 6, 1), "got 6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			before, _ := s.Marshal()
			checkStatus(t, s.Apply(tt.cmd), codeInvalid, tt.msg)
			checkUnchanged(t, before, s)
		})
	}
	// Two nodes without API addresses yet do not clash.
	s := New()
	apply(t, s, withNodes(&raftv1.NodeRecord{NodeId: 1, RaftAddr: "a"}, &raftv1.NodeRecord{NodeId: 2, RaftAddr: "b"}))
}

func TestAddNode(t *testing.T) {
	renamed := func(id uint64, raft, api string) *raftv1.NodeRecord {
		return &raftv1.NodeRecord{NodeId: id, RaftAddr: raft, ApiAddr: api}
	}
	base := []*raftv1.MetaCommand{initCmd(10, 1)} // nodes 1-3, all holding replicas
	tests := []struct {
		name  string
		setup []*raftv1.MetaCommand // after base
		cmd   *raftv1.MetaCommand
		code  raftv1.ErrorCode
		msg   string
		want  *raftv1.NodeRecord
	}{
		{
			name: "id 0 takes the next id",
			cmd:  addNodeCmd(20, renamed(0, "n4:7000", "n4:8000")),
			want: &raftv1.NodeRecord{NodeId: 4, RaftAddr: "n4:7000", ApiAddr: "n4:8000", State: nodeActive, AddedMs: 20},
		},
		{
			name:  "the next id follows the highest",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, nodeRec(9))},
			cmd:   addNodeCmd(30, renamed(0, "x:1", "")),
			want:  &raftv1.NodeRecord{NodeId: 10, RaftAddr: "x:1", State: nodeActive, AddedMs: 30},
		},
		{
			name:  "a retried join returns the node it registered",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, renamed(0, "n4:7000", "n4:8000"))},
			cmd:   addNodeCmd(30, renamed(0, "n4:7000", "n4:8000")),
			want:  &raftv1.NodeRecord{NodeId: 4, RaftAddr: "n4:7000", ApiAddr: "n4:8000", State: nodeActive, AddedMs: 20},
		},
		{
			name: "a restart re-registers unchanged",
			cmd:  addNodeCmd(20, nodeRec(2)),
			want: &raftv1.NodeRecord{NodeId: 2, RaftAddr: "n2:7000", ApiAddr: "n2:8000", State: nodeActive, AddedMs: 10},
		},
		{
			name: "the API address may change",
			cmd:  addNodeCmd(20, renamed(2, "n2:7000", "m2:8000")),
			want: &raftv1.NodeRecord{NodeId: 2, RaftAddr: "n2:7000", ApiAddr: "m2:8000", State: nodeActive, AddedMs: 10},
		},
		{
			name: "the raft address of a node holding replicas may not",
			cmd:  addNodeCmd(20, renamed(2, "m2:7000", "n2:8000")),
			code: codePrecondition,
			msg:  "node 2 holds replicas",
		},
		{
			name:  "the raft address of a node holding none may",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, nodeRec(4))},
			cmd:   addNodeCmd(30, renamed(4, "m4:7000", "n4:8000")),
			want:  &raftv1.NodeRecord{NodeId: 4, RaftAddr: "m4:7000", ApiAddr: "n4:8000", State: nodeActive, AddedMs: 20},
		},
		{
			name: "another node's address",
			cmd:  addNodeCmd(20, renamed(4, "n4:7000", "n3:7000")),
			code: codeAlreadyExists,
			msg:  `address "n3:7000" is node 3's`,
		},
		{
			name: "another node's address on update",
			cmd:  addNodeCmd(20, renamed(2, "n2:7000", "n1:8000")),
			code: codeAlreadyExists,
			msg:  `address "n1:8000" is node 1's`,
		},
		{
			name:  "a draining node",
			setup: []*raftv1.MetaCommand{removeNodeCmd(20, 3)},
			cmd:   addNodeCmd(30, nodeRec(3)),
			code:  codePrecondition,
			msg:   "node 3 is draining",
		},
		{
			name:  "a draining node by address",
			setup: []*raftv1.MetaCommand{removeNodeCmd(20, 3)},
			cmd:   addNodeCmd(30, renamed(0, "n3:7000", "")),
			code:  codePrecondition,
			msg:   "node 3 is draining",
		},
		{
			name: "full",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, nodeRec(4)), addNodeCmd(20, nodeRec(5)),
				addNodeCmd(20, nodeRec(6)), addNodeCmd(20, nodeRec(7)), removeNodeCmd(20, 7)},
			cmd:  addNodeCmd(30, nodeRec(8)),
			code: codeExhausted,
			msg:  "maximum of 7 nodes",
		},
		{
			name: "a full cluster still re-registers its nodes",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, nodeRec(4)), addNodeCmd(20, nodeRec(5)),
				addNodeCmd(20, nodeRec(6)), addNodeCmd(20, nodeRec(7))},
			cmd:  addNodeCmd(30, nodeRec(7)),
			want: &raftv1.NodeRecord{NodeId: 7, RaftAddr: "n7:7000", ApiAddr: "n7:8000", State: nodeActive, AddedMs: 20},
		},
		{
			name:  "ids used up",
			setup: []*raftv1.MetaCommand{addNodeCmd(20, nodeRec(999))},
			cmd:   addNodeCmd(30, renamed(0, "x:1", "")),
			code:  codeExhausted,
			msg:   "node ids are used up to 999",
		},
		{
			name: "id too high",
			cmd:  addNodeCmd(20, nodeRec(1000)),
			code: codeInvalid,
			msg:  "node.node_id: must be at most 999, got 1000",
		},
		{
			name: "no raft address",
			cmd:  addNodeCmd(20, renamed(4, "", "x")),
			code: codeInvalid,
			msg:  "node.raft_addr",
		},
		{
			name: "missing node",
			cmd:  addNodeCmd(20, nil),
			code: codeInvalid,
			msg:  "node: missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, base...)
			apply(t, s, tt.setup...)
			before, _ := s.Marshal()
			res := s.Apply(tt.cmd)
			checkStatus(t, res, tt.code, tt.msg)
			if tt.code != ok {
				checkUnchanged(t, before, s)
				return
			}
			if !proto.Equal(res.GetNode(), tt.want) || !proto.Equal(s.Node(tt.want.GetNodeId()), tt.want) {
				t.Fatalf("node = %v, stored %v, want %v", res.GetNode(), s.Node(tt.want.GetNodeId()), tt.want)
			}
		})
	}

	t.Run("before InitCluster", func(t *testing.T) {
		s := New()
		checkStatus(t, s.Apply(addNodeCmd(1, nodeRec(1))), codePrecondition, "not initialized")
		if len(s.Nodes()) != 0 {
			t.Fatal("registered a node")
		}
	})
}

func TestRemoveNode(t *testing.T) {
	s := New()
	apply(t, s, initClusterCmd(10, 1, 1, 1, 2))
	checkStatus(t, s.Apply(removeNodeCmd(20, 7)), codeNotFound, "node 7 does not exist")

	old := s.Node(2)
	res := s.Apply(removeNodeCmd(20, 2))
	checkStatus(t, res, ok, "")
	if got := s.Node(2); got.GetState() != nodeDraining || !proto.Equal(res.GetNode(), got) {
		t.Fatalf("node 2 = %v, result %v; want it draining", got, res.GetNode())
	}
	if old.GetState() != nodeActive {
		t.Fatal("RemoveNode modified a shared record in place")
	}
	before, _ := s.Marshal()
	checkStatus(t, s.Apply(removeNodeCmd(30, 2)), ok, "")
	checkUnchanged(t, before, s)

	// The last active node stays, even with draining nodes around.
	checkStatus(t, s.Apply(removeNodeCmd(30, 1)), codePrecondition, "node 1 is the last active node")
	checkUnchanged(t, before, s)
}

func TestForgetNode(t *testing.T) {
	s := New()
	// Shard 2 on nodes 1 and 2; node 3 holds only metadata replica 3.
	apply(t, s, initClusterCmd(10, 1, 2, 1, 2, 3))
	checkStatus(t, s.Apply(forgetNodeCmd(20, 9)), codeNotFound, "node 9 does not exist")
	checkStatus(t, s.Apply(forgetNodeCmd(20, 3)), codePrecondition, "node 3 is not draining")
	apply(t, s, removeNodeCmd(20, 3))
	checkStatus(t, s.Apply(forgetNodeCmd(20, 3)), codePrecondition, "node 3 still holds replicas")
	apply(t, s, removeReplicaCmd(30, MetaShardID, 3, 1), forgetNodeCmd(40, 3))
	if s.Node(3) != nil || len(s.Nodes()) != 2 {
		t.Fatalf("nodes after forgetting 3: %v", s.Nodes())
	}
	checkStatus(t, s.Apply(forgetNodeCmd(50, 3)), codeNotFound, "")
	// Its id is free again, and the new node starts afresh.
	res := s.Apply(addNodeCmd(60, &raftv1.NodeRecord{RaftAddr: "new:7000"}))
	checkStatus(t, res, ok, "")
	if got := res.GetNode(); got.GetNodeId() != 3 || got.GetAddedMs() != 60 {
		t.Fatalf("node after forgetting = %v, want id 3 added at 60", got)
	}
}

func TestAddReplica(t *testing.T) {
	// Shard 2 holds replicas 1000 (node 1) and 1001 (node 2), version 1.
	base := []*raftv1.MetaCommand{initClusterCmd(10, 1, 2, 1, 2, 3), addNodeCmd(10, nodeRec(4)), removeNodeCmd(10, 4)}
	tests := []struct {
		name  string
		setup []*raftv1.MetaCommand
		cmd   *raftv1.MetaCommand
		code  raftv1.ErrorCode
		msg   string
		want  *raftv1.ShardRecord
	}{
		{
			name: "takes the next replica id and bumps the version",
			cmd:  addReplicaCmd(20, 2, 3, 1),
			want: &raftv1.ShardRecord{ShardId: 2, Version: 2,
				ReplicaSet: append(replicas(true, 1000, 1, 1001, 2), replicas(false, 1002, 3)...)},
		},
		{
			name:  "on the metadata shard",
			setup: []*raftv1.MetaCommand{addNodeCmd(10, nodeRec(5))},
			cmd:   addReplicaCmd(20, 1, 5, 1),
			want: &raftv1.ShardRecord{ShardId: 1, Version: 2,
				ReplicaSet: append(replicas(true, 1, 1, 2, 2, 3, 3), replicas(false, 1002, 5)...)},
		},
		{
			name:  "a removed replica's id is not reused",
			setup: []*raftv1.MetaCommand{addReplicaCmd(20, 2, 3, 1), removeReplicaCmd(20, 2, 1002, 2)},
			cmd:   addReplicaCmd(30, 2, 3, 3),
			want: &raftv1.ShardRecord{ShardId: 2, Version: 4,
				ReplicaSet: append(replicas(true, 1000, 1, 1001, 2), replicas(false, 1003, 3)...)},
		},
		{name: "unknown shard", cmd: addReplicaCmd(20, 9, 3, 1), code: codeNotFound, msg: "shard 9 does not exist"},
		{name: "unknown node", cmd: addReplicaCmd(20, 2, 9, 1), code: codeNotFound, msg: "node 9 does not exist"},
		{name: "stale version", cmd: addReplicaCmd(20, 2, 3, 2), code: codePrecondition,
			msg: "shard 2 changed concurrently: version 1, expected 2"},
		{name: "version 0", cmd: addReplicaCmd(20, 2, 3, 0), code: codePrecondition, msg: "expected 0"},
		{name: "node already holds one", cmd: addReplicaCmd(20, 2, 2, 1), code: codePrecondition,
			msg: "node 2 already holds replica 1001 of shard 2"},
		{name: "draining node", cmd: addReplicaCmd(20, 2, 4, 1), code: codePrecondition, msg: "node 4 is not active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, base...)
			apply(t, s, tt.setup...)
			before, _ := s.Marshal()
			old := s.Shard(tt.cmd.GetAddReplica().GetShardId())
			oldCopy := proto.CloneOf(old)
			res := s.Apply(tt.cmd)
			checkStatus(t, res, tt.code, tt.msg)
			if tt.code != ok {
				checkUnchanged(t, before, s)
				return
			}
			if !proto.Equal(res.GetShard(), tt.want) || !proto.Equal(s.Shard(tt.want.GetShardId()), tt.want) {
				t.Fatalf("shard = %v, stored %v, want %v", res.GetShard(), s.Shard(tt.want.GetShardId()), tt.want)
			}
			if !proto.Equal(old, oldCopy) {
				t.Fatal("AddReplica modified a shared record in place")
			}
		})
	}
}

func TestRemoveReplica(t *testing.T) {
	// Shard 2 ends with replicas 1000 (node 1, initial) and 1002 (node 2,
	// added), version 3.
	base := []*raftv1.MetaCommand{initClusterCmd(10, 1, 2, 1, 2),
		removeReplicaCmd(10, 2, 1001, 1), addReplicaCmd(10, 2, 2, 2)}
	tests := []struct {
		name string
		cmd  *raftv1.MetaCommand
		code raftv1.ErrorCode
		msg  string
		want *raftv1.ShardRecord
	}{
		{
			name: "removes and bumps the version",
			cmd:  removeReplicaCmd(20, 2, 1000, 3),
			want: &raftv1.ShardRecord{ShardId: 2, Version: 4, ReplicaSet: replicas(false, 1002, 2)},
		},
		{
			name: "an initial metadata replica",
			cmd:  removeReplicaCmd(20, 1, 2, 1),
			want: &raftv1.ShardRecord{ShardId: 1, Version: 2, ReplicaSet: replicas(true, 1, 1)},
		},
		{name: "unknown shard", cmd: removeReplicaCmd(20, 9, 1000, 3), code: codeNotFound, msg: "shard 9 does not exist"},
		{name: "unknown replica", cmd: removeReplicaCmd(20, 2, 1001, 3), code: codeNotFound, msg: "shard 2 has no replica 1001"},
		{name: "stale version", cmd: removeReplicaCmd(20, 2, 1000, 2), code: codePrecondition, msg: "version 3, expected 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			apply(t, s, base...)
			before, _ := s.Marshal()
			res := s.Apply(tt.cmd)
			checkStatus(t, res, tt.code, tt.msg)
			if tt.code != ok {
				checkUnchanged(t, before, s)
				return
			}
			if !proto.Equal(res.GetShard(), tt.want) || !proto.Equal(s.Shard(tt.want.GetShardId()), tt.want) {
				t.Fatalf("shard = %v, stored %v, want %v", res.GetShard(), s.Shard(tt.want.GetShardId()), tt.want)
			}
		})
	}

	t.Run("never the last replica", func(t *testing.T) {
		s := New()
		apply(t, s, initClusterCmd(10, 1, 1, 1))
		before, _ := s.Marshal()
		checkStatus(t, s.Apply(removeReplicaCmd(20, 2, 1000, 1)), codePrecondition, "replica 1000 is the last replica of shard 2")
		checkStatus(t, s.Apply(removeReplicaCmd(20, 1, 1, 1)), codePrecondition, "last replica of shard 1")
		checkUnchanged(t, before, s)
	})
}

func TestCluster(t *testing.T) {
	s := New()
	apply(t, s, initClusterCmd(10, 2, 2, 1, 2), addNodeCmd(20, nodeRec(3)))
	c := s.Cluster()
	if len(c.GetNodes()) != 3 || len(c.GetShards()) != 3 || c.GetShards()[0].GetShardId() != MetaShardID ||
		c.GetNextReplicaId() != 1004 || c.GetReplicationFactor() != 2 || c.GetClockMs() != 20 {
		t.Fatalf("Cluster() = %v", c)
	}
	// The slices are the caller's.
	c.Nodes[0] = nil
	c.Shards[0] = nil
	if s.Node(1) == nil || s.Shard(MetaShardID) == nil {
		t.Fatal("Cluster() aliases the state's slices")
	}
	if s.Shard(9) != nil || s.Node(9) != nil {
		t.Fatal("unknown ids found")
	}
	for _, id := range []uint64{1, 2, 3} {
		if got := s.Node(id).GetNodeId(); got != id {
			t.Fatalf("Node(%d) = %d", id, got)
		}
	}
	if got := fmt.Sprint(nodesOf(s.Shard(3))); got != "[1 2]" {
		t.Fatalf("shard 3 on nodes %s", got)
	}
}

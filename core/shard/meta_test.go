package shard

import (
	"bytes"
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

func metaUpdate(t *testing.T, m *MetaSM, index uint64, cmd []byte) *raftv1.MetaResult {
	t.Helper()
	res, err := m.Update(sm.Entry{Index: index, Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	out := &raftv1.MetaResult{}
	if err := proto.Unmarshal(res.Data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func createQueueCmd(now int64, name string) []byte {
	return mustMarshal(&raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
		Name: name, Partitions: 1,
		Attributes: &raftv1.QueueAttributes{
			VisibilityTimeoutSeconds: 30, MessageRetentionSeconds: 3600, MaximumMessageBytes: 1024,
		},
	}}})
}

// initClusterCmd initializes a one-node cluster with queue shards 2 to
// queueShards+1.
func initClusterCmd(now int64, queueShards int32) []byte {
	return mustMarshal(&raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_InitCluster{InitCluster: &raftv1.InitCluster{
		Nodes:       []*raftv1.NodeRecord{{NodeId: 1, RaftAddr: "127.0.0.1:1"}},
		QueueShards: queueShards, ReplicationFactor: 1,
	}}})
}

func TestMetaSMUpdateLookupSnapshot(t *testing.T) {
	m := NewMetaSM()
	if r := metaUpdate(t, m, 1, initClusterCmd(t0, 2)); r.GetStatus().GetCode() != 0 {
		t.Fatalf("init cluster: %v", r)
	}
	for i := 0; i < 5; i++ {
		r := metaUpdate(t, m, uint64(2+i), createQueueCmd(t0+int64(i), fmt.Sprintf("q%d", i)))
		if r.GetStatus().GetCode() != 0 || r.GetQueue().GetQueueId() == 0 {
			t.Fatalf("create q%d: %v", i, r)
		}
	}
	if r := metaUpdate(t, m, 7, []byte("\xff garbage")); r.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("garbage entry: %v", r)
	}

	q, err := m.Lookup(MetaQueueQuery{Name: "q3"})
	if err != nil {
		t.Fatal(err)
	}
	rec := q.(*raftv1.QueueRecord)
	if rec.GetName() != "q3" || len(rec.GetPartitions()) != 1 {
		t.Fatalf("q3 = %v", rec)
	}
	// The answer is a copy: changing it does not change the state.
	rec.Name = "changed"
	q, _ = m.Lookup(MetaQueueQuery{Name: "q3"})
	if q.(*raftv1.QueueRecord).GetName() != "q3" {
		t.Fatal("lookup handed out the stored record")
	}
	if q, _ := m.Lookup(MetaQueueQuery{Name: "nope"}); q.(*raftv1.QueueRecord) != nil {
		t.Fatalf("missing queue = %v", q)
	}
	l, _ := m.Lookup(MetaListQuery{Prefix: "q", After: "q1", Limit: 2})
	if lr := l.(MetaListResult); fmt.Sprint(lr.Names) != "[q2 q3]" || !lr.More {
		t.Fatalf("list = %+v", lr)
	}
	s, _ := m.Lookup(MetaShardsQuery{})
	if shards := s.([]*raftv1.ShardRecord); len(shards) != 2 || shards[0].ShardId != 2 {
		t.Fatalf("shards = %v", shards)
	}

	var snap bytes.Buffer
	if err := m.SaveSnapshot(&snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	fresh := NewMetaSM()
	if err := fresh.RecoverFromSnapshot(bytes.NewReader(snap.Bytes()), nil, nil); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := fresh.SaveSnapshot(&again, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Fatal("recovered state snapshots differently")
	}
	q, _ = fresh.Lookup(MetaQueueQuery{Name: "q4"})
	if q.(*raftv1.QueueRecord).GetName() != "q4" {
		t.Fatalf("recovered q4 = %v", q)
	}
	// Both go on identically: ids come from the recovered counter.
	a := metaUpdate(t, m, 8, createQueueCmd(t0+10, "next"))
	b := metaUpdate(t, fresh, 8, createQueueCmd(t0+10, "next"))
	if !proto.Equal(a, b) {
		t.Fatalf("after recovery: %v vs %v", a, b)
	}
	if err := fresh.RecoverFromSnapshot(bytes.NewReader([]byte("\xff\xff")), nil, nil); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
}

func TestMetaSMPendingDrops(t *testing.T) {
	m := NewMetaSM()
	metaUpdate(t, m, 1, initClusterCmd(t0, 2))
	for i := range 3 {
		if r := metaUpdate(t, m, uint64(2+i), createQueueCmd(t0, fmt.Sprintf("q%d", i))); r.GetStatus().GetCode() != 0 {
			t.Fatalf("create q%d: %v", i, r)
		}
	}
	// Partitions 2, 4 and 6, deleted out of order.
	for i, name := range []string{"q2", "q0", "q1"} {
		cmd := mustMarshal(&raftv1.MetaCommand{NowMs: t0, Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: name}}})
		if r := metaUpdate(t, m, uint64(5+i), cmd); r.GetStatus().GetCode() != 0 {
			t.Fatalf("delete %s: %v", name, r)
		}
	}
	ids := func(q MetaPendingDropsQuery) string {
		t.Helper()
		v, err := m.Lookup(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, pl := range v.([]*raftv1.Placement) {
			out = append(out, pl.GetPartitionId())
		}
		return fmt.Sprint(out)
	}
	for _, tt := range []struct {
		q    MetaPendingDropsQuery
		want string
	}{
		{MetaPendingDropsQuery{Limit: 10}, "[2 4 6]"},
		{MetaPendingDropsQuery{Limit: 2}, "[2 4]"},
		{MetaPendingDropsQuery{After: 2, Limit: 10}, "[4 6]"},
		{MetaPendingDropsQuery{After: 3, Limit: 1}, "[4]"},
		{MetaPendingDropsQuery{After: 6, Limit: 10}, "[]"},
		{MetaPendingDropsQuery{After: ^uint64(0), Limit: 10}, "[]"},
		{MetaPendingDropsQuery{}, "[2]"}, // a limit below 1 means 1
	} {
		if got := ids(tt.q); got != tt.want {
			t.Fatalf("%+v: got %s, want %s", tt.q, got, tt.want)
		}
	}
	// The answer is a copy.
	v, _ := m.Lookup(MetaPendingDropsQuery{Limit: 1})
	v.([]*raftv1.Placement)[0].PartitionId = 99
	if got := ids(MetaPendingDropsQuery{Limit: 1}); got != "[2]" {
		t.Fatalf("lookup handed out the stored record: %s", got)
	}

	ack := mustMarshal(&raftv1.MetaCommand{NowMs: t0, Op: &raftv1.MetaCommand_AckDrops{AckDrops: &raftv1.AckDrops{PartitionIds: []uint64{4, 2}}}})
	if r := metaUpdate(t, m, 8, ack); r.GetStatus().GetCode() != 0 {
		t.Fatalf("ack: %v", r)
	}
	if got := ids(MetaPendingDropsQuery{Limit: 10}); got != "[6]" {
		t.Fatalf("after ack: %s", got)
	}
}

func TestMetaSMClusterLookups(t *testing.T) {
	m := NewMetaSM()
	lookup := func(q any) any {
		t.Helper()
		v, err := m.Lookup(q)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := lookup(MetaClusterQuery{}).(*raftv1.MetaState); len(v.GetNodes()) != 0 || len(v.GetShards()) != 0 {
		t.Fatalf("cluster before InitCluster = %v", v)
	}
	metaUpdate(t, m, 1, initClusterCmd(t0, 2))
	addNode := mustMarshal(&raftv1.MetaCommand{NowMs: t0, Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{
		Node: &raftv1.NodeRecord{RaftAddr: "127.0.0.1:2", ApiAddr: "127.0.0.1:3"},
	}}})
	if r := metaUpdate(t, m, 2, addNode); r.GetNode().GetNodeId() != 2 {
		t.Fatalf("add node: %v", r)
	}

	shards := lookup(MetaShardsQuery{IncludeMeta: true}).([]*raftv1.ShardRecord)
	if len(shards) != 3 || shards[0].GetShardId() != 1 || shards[1].GetShardId() != 2 {
		t.Fatalf("all shards = %v", shards)
	}
	if got := lookup(MetaShardsQuery{}).([]*raftv1.ShardRecord); len(got) != 2 || got[0].GetShardId() != 2 {
		t.Fatalf("queue shards = %v", got)
	}
	sh := lookup(MetaShardQuery{ShardID: 1}).(*raftv1.ShardRecord)
	if len(sh.GetReplicaSet()) != 1 || sh.GetReplicaSet()[0].GetReplicaId() != 1 {
		t.Fatalf("metadata shard = %v", sh)
	}
	if sh := lookup(MetaShardQuery{ShardID: 9}).(*raftv1.ShardRecord); sh != nil {
		t.Fatalf("missing shard = %v", sh)
	}
	nodes := lookup(MetaNodesQuery{}).([]*raftv1.NodeRecord)
	if len(nodes) != 2 || nodes[0].GetNodeId() != 1 || nodes[1].GetApiAddr() != "127.0.0.1:3" {
		t.Fatalf("nodes = %v", nodes)
	}
	if n := lookup(MetaNodeQuery{NodeID: 2}).(*raftv1.NodeRecord); n.GetRaftAddr() != "127.0.0.1:2" {
		t.Fatalf("node 2 = %v", n)
	}
	if n := lookup(MetaNodeQuery{NodeID: 9}).(*raftv1.NodeRecord); n != nil {
		t.Fatalf("missing node = %v", n)
	}
	c := lookup(MetaClusterQuery{}).(*raftv1.MetaState)
	if len(c.GetNodes()) != 2 || len(c.GetShards()) != 3 || c.GetReplicationFactor() != 1 || c.GetNextReplicaId() != 1002 {
		t.Fatalf("cluster = %v", c)
	}

	// Every answer is a copy: changing it does not change the state.
	shards[0].ReplicaSet[0].NodeId = 7
	sh.Version = 99
	nodes[0].RaftAddr = "changed"
	c.Nodes[1].ApiAddr = "changed"
	c.Shards[2].ReplicaSet = nil
	if sh := lookup(MetaShardQuery{ShardID: 1}).(*raftv1.ShardRecord); sh.GetVersion() != 1 || sh.GetReplicaSet()[0].GetNodeId() != 1 {
		t.Fatalf("lookup handed out the stored shard: %v", sh)
	}
	if got := lookup(MetaClusterQuery{}).(*raftv1.MetaState); got.GetNodes()[0].GetRaftAddr() != "127.0.0.1:1" ||
		got.GetNodes()[1].GetApiAddr() != "127.0.0.1:3" || len(got.GetShards()[2].GetReplicaSet()) != 1 {
		t.Fatalf("lookup handed out stored records: %v", got)
	}
}

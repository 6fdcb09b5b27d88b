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

func addShardsCmd(now int64, ids ...uint64) []byte {
	as := &raftv1.AddShards{}
	for _, id := range ids {
		as.Shards = append(as.Shards, &raftv1.ShardRecord{ShardId: id, Replicas: map[uint64]string{1: "127.0.0.1:1"}})
	}
	return mustMarshal(&raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_AddShards{AddShards: as}})
}

func TestMetaSMUpdateLookupSnapshot(t *testing.T) {
	m := NewMetaSM()
	if r := metaUpdate(t, m, 1, addShardsCmd(t0, 2, 3)); r.GetStatus().GetCode() != 0 {
		t.Fatalf("add shards: %v", r)
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

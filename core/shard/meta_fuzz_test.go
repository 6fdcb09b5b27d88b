package shard

import (
	"bytes"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// The metadata shard fuzz targets: a fuzzed entry applied to a MetaSM,
// and a fuzzed snapshot recovered into one, must never panic; what the
// state machine accepts must snapshot and recover to the same bytes, so a
// replica that catches up by snapshot reaches the state of one that
// applied the log.

func metaCmd(now int64, c *raftv1.MetaCommand) []byte {
	c.NowMs = now
	return mustMarshal(c)
}

// fuzzMetaPrelude is the state every input starts from: a 3-node cluster
// with two queue shards, a queue with a dead-letter queue, a deleted queue
// waiting to be dropped, and a principal with a key and permissions.
func fuzzMetaPrelude() [][]byte {
	nodes := []*raftv1.NodeRecord{
		{NodeId: 1, RaftAddr: "127.0.0.1:1", ApiAddr: "127.0.0.1:11"},
		{NodeId: 2, RaftAddr: "127.0.0.1:2", ApiAddr: "127.0.0.1:12"},
		{NodeId: 3, RaftAddr: "127.0.0.1:3", ApiAddr: "127.0.0.1:13"},
	}
	dlqAttrs := &raftv1.QueueAttributes{VisibilityTimeoutSeconds: 30, MessageRetentionSeconds: 3600, MaximumMessageBytes: 1024,
		DeadLetterQueue: "dlq", MaxReceiveCount: 3}
	return [][]byte{
		metaCmd(t0, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: &raftv1.InitCluster{
			Nodes: nodes, QueueShards: 2, ReplicationFactor: 3,
		}}}),
		createQueueCmd(t0, "dlq"),
		metaCmd(t0, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreateQueue{CreateQueue: &raftv1.CreateQueue{
			Name: "work", Partitions: 3, Attributes: dlqAttrs,
		}}}),
		createQueueCmd(t0, "gone"),
		metaCmd(t0+1, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: "gone"}}}),
		metaCmd(t0+1, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreatePrincipal{CreatePrincipal: &raftv1.CreatePrincipal{
			Principal: &raftv1.PrincipalRecord{
				Name:        "alice",
				AccessKeys:  []*raftv1.AccessKeyRecord{{AccessKeyId: "AKIDALICE", SealedSecret: []byte("sealed")}},
				Permissions: []*raftv1.PermissionRecord{{Action: "cluster_admin", QueuePattern: "*"}, {Action: "send", QueuePattern: "work"}},
			},
		}}}),
	}
}

// fuzzMetaSeeds are real encodings of every kind of metadata command,
// aimed at the prelude's state.
func fuzzMetaSeeds() [][]byte {
	perm := []*raftv1.PermissionRecord{{Action: "receive", QueuePattern: "*"}}
	return [][]byte{
		createQueueCmd(t0+2, "new"),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_UpdateQueue{UpdateQueue: &raftv1.UpdateQueue{
			Name: "work", Attributes: &raftv1.QueueAttributes{VisibilityTimeoutSeconds: 60, MessageRetentionSeconds: 3600, MaximumMessageBytes: 2048},
		}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeleteQueue{DeleteQueue: &raftv1.DeleteQueue{Name: "work"}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AckDrops{AckDrops: &raftv1.AckDrops{}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{
			Node: &raftv1.NodeRecord{RaftAddr: "127.0.0.1:4", ApiAddr: "127.0.0.1:14"},
		}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RemoveNode{RemoveNode: &raftv1.RemoveNode{NodeId: 3}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_ForgetNode{ForgetNode: &raftv1.ForgetNode{NodeId: 3}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddReplica{AddReplica: &raftv1.AddReplica{ShardId: 2, NodeId: 1}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RemoveReplica{RemoveReplica: &raftv1.RemoveReplica{ShardId: 2, ReplicaId: 1000}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreatePrincipal{CreatePrincipal: &raftv1.CreatePrincipal{
			Principal: &raftv1.PrincipalRecord{Name: "bob", Permissions: perm}, OnlyIfNone: true,
		}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeletePrincipal{DeletePrincipal: &raftv1.DeletePrincipal{Name: "alice"}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddAccessKey{AddAccessKey: &raftv1.AddAccessKey{
			Principal: "alice", Key: &raftv1.AccessKeyRecord{AccessKeyId: "AKIDTWO", SealedSecret: []byte("s2")},
		}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokeAccessKey{RevokeAccessKey: &raftv1.RevokeAccessKey{AccessKeyId: "AKIDALICE"}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_GrantPermissions{GrantPermissions: &raftv1.GrantPermissions{
			Principal: "alice", Permissions: perm,
		}}}),
		metaCmd(t0+2, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokePermissions{RevokePermissions: &raftv1.RevokePermissions{
			Principal: "alice", Permissions: perm,
		}}}),
		[]byte("\xff\xff not a command"),
		nil,
	}
}

// fuzzMetaSM returns a MetaSM holding the prelude's state and the last
// index used.
func fuzzMetaSM(tb testing.TB) (*MetaSM, uint64) {
	tb.Helper()
	m := NewMetaSM()
	var index uint64
	for _, cmd := range fuzzMetaPrelude() {
		index++
		res, err := m.Update(sm.Entry{Index: index, Cmd: cmd})
		if err != nil {
			tb.Fatal(err)
		}
		out := &raftv1.MetaResult{}
		if err := proto.Unmarshal(res.Data, out); err != nil || out.GetStatus().GetCode() != 0 {
			tb.Fatalf("prelude entry %d: %v (%v)", index, out, err)
		}
	}
	return m, index
}

// metaLookups runs every metadata query against m; none may fail or panic.
func metaLookups(t *testing.T, m *MetaSM) {
	t.Helper()
	for _, q := range []any{
		MetaQueueQuery{Name: "work"}, MetaListQuery{Limit: 100}, MetaShardsQuery{IncludeMeta: true},
		MetaShardQuery{ShardID: 2}, MetaNodesQuery{}, MetaNodeQuery{NodeID: 1}, MetaClusterQuery{},
		MetaPartitionsPerShardQuery{}, MetaPendingDropsQuery{Limit: 10}, MetaPrincipalsQuery{}, MetaAppliedQuery{},
	} {
		if _, err := m.Lookup(q); err != nil {
			t.Fatalf("lookup %T: %v", q, err)
		}
	}
}

// snapshotRoundTrip saves m, recovers the snapshot into a new MetaSM, and
// checks that one saves the same bytes.
func snapshotRoundTrip(t *testing.T, m *MetaSM) *MetaSM {
	t.Helper()
	var first bytes.Buffer
	if err := m.SaveSnapshot(&first, nil, nil); err != nil {
		t.Fatalf("save snapshot: %v", err)
	}
	again := NewMetaSM()
	if err := again.RecoverFromSnapshot(bytes.NewReader(first.Bytes()), nil, nil); err != nil {
		t.Fatalf("the state's own snapshot does not recover: %v", err)
	}
	var second bytes.Buffer
	if err := again.SaveSnapshot(&second, nil, nil); err != nil {
		t.Fatalf("save recovered snapshot: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("a recovered snapshot saves other bytes:\n%x\n%x", first.Bytes(), second.Bytes())
	}
	return again
}

// FuzzMetaApply applies up to three fuzzed entries to the metadata shard
// holding the prelude's state.
func FuzzMetaApply(f *testing.F) {
	seeds := fuzzMetaSeeds()
	for i, a := range seeds {
		f.Add(a, seeds[(i+1)%len(seeds)], seeds[(i+7)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		guardHang(t)
		m, index := fuzzMetaSM(t)
		for _, cmd := range [][]byte{a, b, c} {
			index++
			res, err := m.Update(sm.Entry{Index: index, Cmd: cmd})
			if err != nil {
				t.Fatalf("entry %x: Update failed (the node would stop): %v", cmd, err)
			}
			out := &raftv1.MetaResult{}
			if err := proto.Unmarshal(res.Data, out); err != nil {
				t.Fatalf("entry %x: result does not decode: %v", cmd, err)
			}
			if proto.Unmarshal(cmd, &raftv1.MetaCommand{}) != nil && out.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
				t.Fatalf("entry %x does not decode, yet its result is %v", cmd, out)
			}
		}
		metaLookups(t, m)
		snapshotRoundTrip(t, m)
	})
}

// FuzzMetaSnapshot recovers a fuzzed snapshot. A snapshot the state
// machine accepts must serve every query, take further commands, and
// round-trip through its own snapshot.
func FuzzMetaSnapshot(f *testing.F) {
	m, _ := fuzzMetaSM(f)
	var snap bytes.Buffer
	if err := m.SaveSnapshot(&snap, nil, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add(mustMarshal(&raftv1.MetaState{NextId: 1}))
	f.Add([]byte{})
	f.Add([]byte("\xff\xff not a snapshot"))
	f.Fuzz(func(t *testing.T, data []byte) {
		guardHang(t)
		m := NewMetaSM()
		if err := m.RecoverFromSnapshot(bytes.NewReader(data), nil, nil); err != nil {
			return
		}
		metaLookups(t, m)
		m = snapshotRoundTrip(t, m)
		for i, cmd := range fuzzMetaSeeds() {
			if _, err := m.Update(sm.Entry{Index: uint64(i + 1), Cmd: cmd}); err != nil {
				t.Fatalf("seed command %d on the recovered state: %v", i, err)
			}
		}
		metaLookups(t, m)
		snapshotRoundTrip(t, m)
	})
}

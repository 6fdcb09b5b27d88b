package shard

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// overWire answers q the way a remote node does: the query and the answer
// both go through their wire form and protobuf encoding.
func overWire(t *testing.T, lookup func(any) (any, error), q any) any {
	t.Helper()
	pq, err := QueryToProto(q)
	if err != nil {
		t.Fatalf("%T to proto: %v", q, err)
	}
	var sent raftv1.ShardQuery
	if err := proto.Unmarshal(mustMarshal(pq), &sent); err != nil {
		t.Fatal(err)
	}
	got, err := QueryFromProto(&sent)
	if err != nil {
		t.Fatalf("%T from proto: %v", q, err)
	}
	if !reflect.DeepEqual(got, q) {
		t.Fatalf("query %#v came back as %#v", q, got)
	}
	v, err := lookup(got)
	if err != nil {
		t.Fatalf("lookup %#v: %v", got, err)
	}
	pr, err := ResultToProto(v)
	if err != nil {
		t.Fatalf("answer %T to proto: %v", v, err)
	}
	var received raftv1.ShardQueryResult
	if err := proto.Unmarshal(mustMarshal(pr), &received); err != nil {
		t.Fatal(err)
	}
	out, err := ResultFromProto(q, &received)
	if err != nil {
		t.Fatalf("answer to %T from proto: %v", q, err)
	}
	return out
}

// sameAnswer compares answers: messages by proto.Equal (a nil message only
// equals a nil one), slices element by element (nil equals empty), the rest
// deeply.
func sameAnswer(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if am, ok := a.(proto.Message); ok {
		return proto.Equal(am, b.(proto.Message))
	}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if av.Kind() == reflect.Slice {
		if av.Len() != bv.Len() {
			return false
		}
		for i := range av.Len() {
			if !sameAnswer(av.Index(i).Interface(), bv.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestQueriesOverTheWireAnswerAsLocally(t *testing.T) {
	m := NewMetaSM()
	metaUpdate(t, m, 1, initClusterCmd(t0, 2))
	metaUpdate(t, m, 2, createQueueCmd(t0, "q1"))
	metaUpdate(t, m, 3, createQueueCmd(t0, "q2"))
	metaUpdate(t, m, 4, createQueueCmd(t0, "gone"))
	metaUpdate(t, m, 5, mustMarshal(&raftv1.MetaCommand{NowMs: t0, Op: &raftv1.MetaCommand_DeleteQueue{
		DeleteQueue: &raftv1.DeleteQueue{Name: "gone"},
	}}))

	s, idx := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	p := partition(1)
	update(t, s, &idx, sendCmd(t0, p, "a", "b"), receiveCmd(t0, p, 1))

	metaQueries := []any{
		MetaQueueQuery{Name: "q1"},
		MetaQueueQuery{Name: "nope"}, // a nil record must stay nil
		MetaListQuery{Prefix: "q", Limit: 1},
		MetaShardsQuery{},
		MetaShardsQuery{IncludeMeta: true},
		MetaShardQuery{ShardID: 1},
		MetaShardQuery{ShardID: 99},
		MetaNodesQuery{},
		MetaNodeQuery{NodeID: 1},
		MetaNodeQuery{NodeID: 42},
		MetaClusterQuery{},
		MetaPartitionsPerShardQuery{},
		MetaPendingDropsQuery{Limit: 10},
		MetaPrincipalsQuery{},
	}
	queueQueries := []any{
		ShardStateQuery{},
		PartitionsQuery{PartitionIDs: []uint64{p.GetPartitionId(), 999}}, // 999 holds nothing: nil
		NextWakeQuery{},
		OutboxQuery{Limit: 5},
	}
	kinds := map[reflect.Type]bool{}
	check := func(lookup func(any) (any, error), qs []any) {
		for _, q := range qs {
			kinds[reflect.TypeOf(q)] = true
			want, err := lookup(q)
			if err != nil {
				t.Fatalf("lookup %#v: %v", q, err)
			}
			if got := overWire(t, lookup, q); !sameAnswer(got, want) {
				t.Errorf("%#v over the wire = %v, want %v", q, got, want)
			}
		}
	}
	check(m.Lookup, metaQueries)
	check(s.Lookup, queueQueries)

	// Every query the wire knows is checked above.
	oneof := (&raftv1.ShardQuery{}).ProtoReflect().Descriptor().Oneofs().ByName("query")
	if n := oneof.Fields().Len(); n != len(kinds) {
		t.Errorf("the wire knows %d queries, the test checks %d", n, len(kinds))
	}
}

func TestWireRefusesWhatItDoesNotKnow(t *testing.T) {
	if _, err := QueryToProto(MetaAppliedQuery{}); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("local-only query to proto: %v, want ErrUnknownQuery", err)
	}
	if _, err := QueryFromProto(&raftv1.ShardQuery{}); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("empty wire query: %v, want ErrUnknownQuery", err)
	}
	wake := &raftv1.ShardQueryResult{Result: &raftv1.ShardQueryResult_NextWakeMs{NextWakeMs: 5}}
	if _, err := ResultFromProto(MetaQueueQuery{Name: "q"}, wake); err == nil {
		t.Error("a next-wake answer was taken for a queue record")
	}
	if _, err := ResultToProto(struct{}{}); err == nil {
		t.Error("an unknown answer type got a wire form")
	}
}

func TestMetaSMReportsAppliedIndex(t *testing.T) {
	m := NewMetaSM()
	applied := func() uint64 {
		v, err := m.Lookup(MetaAppliedQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return v.(uint64)
	}
	if got := applied(); got != 0 {
		t.Fatalf("new state machine applied %d", got)
	}
	metaUpdate(t, m, 7, initClusterCmd(t0, 1))
	if got := applied(); got != 7 {
		t.Fatalf("applied %d after entry 7", got)
	}
	metaUpdate(t, m, 8, []byte("\xff garbage")) // refused, but applied
	if got := applied(); got != 8 {
		t.Fatalf("applied %d after entry 8", got)
	}
}

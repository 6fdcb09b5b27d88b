package shard

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// FuzzShardQuery decodes a query as a node receives it from another
// (wire.go), runs it on the metadata and queue state machines holding the
// fuzz preludes' states, and sends the answer back over the wire: a query
// that decodes must come back as the same answer, and a fuzzed answer to
// it must be refused or accepted, never panic the asking node.
func FuzzShardQuery(f *testing.F) {
	m, _ := fuzzMetaSM(f)
	s, _, _ := fuzzQueueSM(f)
	for _, q := range []any{
		MetaQueueQuery{Name: "work"}, MetaListQuery{Prefix: "d", After: "a", Limit: 1}, MetaShardsQuery{IncludeMeta: true},
		MetaShardQuery{ShardID: 2}, MetaNodesQuery{}, MetaNodeQuery{NodeID: 1}, MetaClusterQuery{},
		MetaPartitionsPerShardQuery{}, MetaPendingDropsQuery{Limit: 10}, MetaPrincipalsQuery{},
		ShardStateQuery{}, PartitionsQuery{PartitionIDs: []uint64{101, 102, 999}}, NextWakeQuery{}, OutboxQuery{Limit: 3},
	} {
		pq, err := QueryToProto(q)
		if err != nil {
			f.Fatal(err)
		}
		var v any
		if v, err = m.Lookup(q); err != nil {
			v, err = s.Lookup(q)
		}
		if err != nil {
			f.Fatal(err)
		}
		pr, err := ResultToProto(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustMarshal(pq), mustMarshal(pr))
	}
	f.Fuzz(func(t *testing.T, query, answer []byte) {
		var pq raftv1.ShardQuery
		if proto.Unmarshal(query, &pq) != nil {
			return
		}
		q, err := QueryFromProto(&pq)
		if err != nil {
			if !errors.Is(err, ErrUnknownQuery) {
				t.Fatalf("query %x refused with %v", query, err)
			}
			return
		}
		lookup := m.Lookup
		if _, err := m.Lookup(q); errors.Is(err, ErrUnknownQuery) {
			lookup = s.Lookup
		}
		if _, err := lookup(q); err == nil {
			// overWire fails the test unless the answer comes back the same.
			want, _ := lookup(q)
			if got := overWire(t, lookup, q); !sameAnswer(want, got) {
				t.Fatalf("query %#v: answered %v locally, %v over the wire", q, want, got)
			}
		}
		var pr raftv1.ShardQueryResult
		if proto.Unmarshal(answer, &pr) == nil {
			_, _ = ResultFromProto(q, &pr)
		}
	})
}

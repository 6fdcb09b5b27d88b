package shard

import (
	"fmt"
	"math"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// The wire form of the queries in query.go. A node that hosts no replica of
// a shard sends its query, as a raftv1.ShardQuery, to a node that hosts one;
// that node turns it back into the query value, runs it on its replica, and
// returns the answer as a raftv1.ShardQueryResult, which the first node turns
// back into exactly what Lookup would have returned. The state machines keep
// serving the Go values: the conversion happens only at the network's edge.

// QueryToProto returns the wire form of a query value.
func QueryToProto(q any) (*raftv1.ShardQuery, error) {
	out := &raftv1.ShardQuery{}
	switch q := q.(type) {
	case MetaQueueQuery:
		out.Query = &raftv1.ShardQuery_MetaQueue{MetaQueue: &raftv1.MetaQueueQuery{Name: q.Name}}
	case MetaListQuery:
		out.Query = &raftv1.ShardQuery_MetaList{MetaList: &raftv1.MetaListQuery{
			Prefix: q.Prefix, After: q.After, Limit: clampInt32(q.Limit),
		}}
	case MetaShardsQuery:
		out.Query = &raftv1.ShardQuery_MetaShards{MetaShards: &raftv1.MetaShardsQuery{IncludeMeta: q.IncludeMeta}}
	case MetaShardQuery:
		out.Query = &raftv1.ShardQuery_MetaShard{MetaShard: &raftv1.MetaShardQuery{ShardId: q.ShardID}}
	case MetaNodesQuery:
		out.Query = &raftv1.ShardQuery_MetaNodes{MetaNodes: &raftv1.MetaNodesQuery{}}
	case MetaNodeQuery:
		out.Query = &raftv1.ShardQuery_MetaNode{MetaNode: &raftv1.MetaNodeQuery{NodeId: q.NodeID}}
	case MetaClusterQuery:
		out.Query = &raftv1.ShardQuery_MetaCluster{MetaCluster: &raftv1.MetaClusterQuery{}}
	case MetaPartitionsPerShardQuery:
		out.Query = &raftv1.ShardQuery_MetaPartitionsPerShard{MetaPartitionsPerShard: &raftv1.MetaPartitionsPerShardQuery{}}
	case MetaPrincipalsQuery:
		out.Query = &raftv1.ShardQuery_MetaPrincipals{MetaPrincipals: &raftv1.MetaPrincipalsQuery{}}
	case MetaPendingDropsQuery:
		out.Query = &raftv1.ShardQuery_MetaPendingDrops{MetaPendingDrops: &raftv1.MetaPendingDropsQuery{
			After: q.After, Limit: clampInt32(q.Limit),
		}}
	case ShardStateQuery:
		out.Query = &raftv1.ShardQuery_ShardState{ShardState: &raftv1.ShardStateQuery{}}
	case PartitionsQuery:
		out.Query = &raftv1.ShardQuery_Partitions{Partitions: &raftv1.PartitionsQuery{PartitionIds: q.PartitionIDs}}
	case NextWakeQuery:
		out.Query = &raftv1.ShardQuery_NextWake{NextWake: &raftv1.NextWakeQuery{}}
	case OutboxQuery:
		out.Query = &raftv1.ShardQuery_Outbox{Outbox: &raftv1.OutboxQuery{Limit: clampInt32(q.Limit)}}
	default:
		return nil, fmt.Errorf("%w: %T has no wire form", ErrUnknownQuery, q)
	}
	return out, nil
}

// QueryFromProto returns the query value a wire query stands for.
func QueryFromProto(q *raftv1.ShardQuery) (any, error) {
	switch q := q.GetQuery().(type) {
	case *raftv1.ShardQuery_MetaQueue:
		return MetaQueueQuery{Name: q.MetaQueue.GetName()}, nil
	case *raftv1.ShardQuery_MetaList:
		l := q.MetaList
		return MetaListQuery{Prefix: l.GetPrefix(), After: l.GetAfter(), Limit: int(l.GetLimit())}, nil
	case *raftv1.ShardQuery_MetaShards:
		return MetaShardsQuery{IncludeMeta: q.MetaShards.GetIncludeMeta()}, nil
	case *raftv1.ShardQuery_MetaShard:
		return MetaShardQuery{ShardID: q.MetaShard.GetShardId()}, nil
	case *raftv1.ShardQuery_MetaNodes:
		return MetaNodesQuery{}, nil
	case *raftv1.ShardQuery_MetaNode:
		return MetaNodeQuery{NodeID: q.MetaNode.GetNodeId()}, nil
	case *raftv1.ShardQuery_MetaCluster:
		return MetaClusterQuery{}, nil
	case *raftv1.ShardQuery_MetaPartitionsPerShard:
		return MetaPartitionsPerShardQuery{}, nil
	case *raftv1.ShardQuery_MetaPrincipals:
		return MetaPrincipalsQuery{}, nil
	case *raftv1.ShardQuery_MetaPendingDrops:
		p := q.MetaPendingDrops
		return MetaPendingDropsQuery{After: p.GetAfter(), Limit: int(p.GetLimit())}, nil
	case *raftv1.ShardQuery_ShardState:
		return ShardStateQuery{}, nil
	case *raftv1.ShardQuery_Partitions:
		return PartitionsQuery{PartitionIDs: q.Partitions.GetPartitionIds()}, nil
	case *raftv1.ShardQuery_NextWake:
		return NextWakeQuery{}, nil
	case *raftv1.ShardQuery_Outbox:
		return OutboxQuery{Limit: int(q.Outbox.GetLimit())}, nil
	default:
		return nil, fmt.Errorf("%w: wire query %T", ErrUnknownQuery, q)
	}
}

// ResultToProto returns the wire form of a Lookup answer.
func ResultToProto(v any) (*raftv1.ShardQueryResult, error) {
	out := &raftv1.ShardQueryResult{}
	switch v := v.(type) {
	case *raftv1.QueueRecord:
		out.Result = &raftv1.ShardQueryResult_Queue{Queue: &raftv1.QueueLookup{Queue: v}}
	case MetaListResult:
		out.Result = &raftv1.ShardQueryResult_QueueNames{QueueNames: &raftv1.QueueNames{Names: v.Names, More: v.More}}
	case []*raftv1.ShardRecord:
		out.Result = &raftv1.ShardQueryResult_Shards{Shards: &raftv1.ShardRecords{Shards: v}}
	case *raftv1.ShardRecord:
		out.Result = &raftv1.ShardQueryResult_Shard{Shard: &raftv1.ShardLookup{Shard: v}}
	case []*raftv1.NodeRecord:
		out.Result = &raftv1.ShardQueryResult_Nodes{Nodes: &raftv1.NodeRecords{Nodes: v}}
	case *raftv1.NodeRecord:
		out.Result = &raftv1.ShardQueryResult_Node{Node: &raftv1.NodeLookup{Node: v}}
	case *raftv1.MetaState:
		out.Result = &raftv1.ShardQueryResult_Cluster{Cluster: nonNil(v)}
	case map[uint64]int:
		counts := make(map[uint64]int64, len(v))
		for id, c := range v {
			counts[id] = int64(c)
		}
		out.Result = &raftv1.ShardQueryResult_PartitionCounts{PartitionCounts: &raftv1.PartitionCounts{Partitions: counts}}
	case []*raftv1.Placement:
		out.Result = &raftv1.ShardQueryResult_Placements{Placements: &raftv1.Placements{Placements: v}}
	case *raftv1.ShardState:
		out.Result = &raftv1.ShardQueryResult_ShardState{ShardState: nonNil(v)}
	case []*raftv1.PartitionState:
		slots := make([]*raftv1.PartitionStateSlot, len(v))
		for i, st := range v {
			slots[i] = &raftv1.PartitionStateSlot{State: st}
		}
		out.Result = &raftv1.ShardQueryResult_PartitionStates{PartitionStates: &raftv1.PartitionStates{Partitions: slots}}
	case int64:
		out.Result = &raftv1.ShardQueryResult_NextWakeMs{NextWakeMs: v}
	case []*raftv1.OutboxEntry:
		out.Result = &raftv1.ShardQueryResult_OutboxEntries{OutboxEntries: &raftv1.OutboxEntries{Entries: v}}
	default:
		return nil, fmt.Errorf("lookup answer %T has no wire form", v)
	}
	return out, nil
}

// ResultFromProto returns, from the wire answer to q, the value Lookup
// returns for q. An answer of another kind than q's is an error.
func ResultFromProto(q any, r *raftv1.ShardQueryResult) (any, error) {
	res := r.GetResult()
	mismatch := func() error { return fmt.Errorf("wire answer %T does not answer %T", res, q) }
	switch q.(type) {
	case MetaQueueQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Queue); ok {
			return r.Queue.GetQueue(), nil
		}
	case MetaListQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_QueueNames); ok {
			return MetaListResult{Names: r.QueueNames.GetNames(), More: r.QueueNames.GetMore()}, nil
		}
	case MetaShardsQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Shards); ok {
			return r.Shards.GetShards(), nil
		}
	case MetaShardQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Shard); ok {
			return r.Shard.GetShard(), nil
		}
	case MetaNodesQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Nodes); ok {
			return r.Nodes.GetNodes(), nil
		}
	case MetaNodeQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Node); ok {
			return r.Node.GetNode(), nil
		}
	case MetaClusterQuery, MetaPrincipalsQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Cluster); ok {
			return nonNil(r.Cluster), nil
		}
	case MetaPartitionsPerShardQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_PartitionCounts); ok {
			counts := make(map[uint64]int, len(r.PartitionCounts.GetPartitions()))
			for id, c := range r.PartitionCounts.GetPartitions() {
				counts[id] = int(c)
			}
			return counts, nil
		}
	case MetaPendingDropsQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_Placements); ok {
			return r.Placements.GetPlacements(), nil
		}
	case ShardStateQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_ShardState); ok {
			return nonNil(r.ShardState), nil
		}
	case PartitionsQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_PartitionStates); ok {
			slots := r.PartitionStates.GetPartitions()
			out := make([]*raftv1.PartitionState, len(slots))
			for i, s := range slots {
				out[i] = s.GetState() // nil where the partition holds nothing
			}
			return out, nil
		}
	case NextWakeQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_NextWakeMs); ok {
			return r.NextWakeMs, nil
		}
	case OutboxQuery:
		if r, ok := res.(*raftv1.ShardQueryResult_OutboxEntries); ok {
			return r.OutboxEntries.GetEntries(), nil
		}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownQuery, q)
	}
	return nil, mismatch()
}

// nonNil returns m, or a new empty message when m is nil: a oneof cannot
// carry a nil message, and the answers it stands for are never nil.
func nonNil[M any, P interface{ *M }](m P) P {
	if m == nil {
		return new(M)
	}
	return m
}

// clampInt32 narrows a limit to the wire's int32; the state machines cap
// limits far lower anyway.
func clampInt32(v int) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

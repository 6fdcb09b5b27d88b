// Package shard runs Wharf's pure state machines under dragonboat: QueueSM is
// the on-disk state machine of a queue shard (core/queue over Pebble), MetaSM
// the in-memory state machine of the metadata shard (core/meta).
package shard

import (
	"errors"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// ErrClosed is returned by Lookup once the state machine is closed.
var ErrClosed = errors.New("shard state machine closed")

// ErrRecovering is returned by Lookup while the state machine is replacing
// its content from a snapshot (or a recovery did not finish): the content is
// incomplete, so nothing may be read from it. It is retryable.
var ErrRecovering = errors.New("shard state machine is recovering from a snapshot")

// ErrUnknownQuery is returned by Lookup for a query type it does not serve.
var ErrUnknownQuery = errors.New("unknown lookup query")

// Queries QueueSM.Lookup serves. Each is answered from one consistent Pebble
// snapshot; the answer's type is given with each query.

// ShardStateQuery asks for the shard bookkeeping: *raftv1.ShardState.
type ShardStateQuery struct{}

// PartitionsQuery asks for the bookkeeping of the listed partitions:
// []*raftv1.PartitionState, one per id, nil where the partition holds nothing.
type PartitionsQuery struct {
	PartitionIDs []uint64
}

// ReceivableQuery asks, for each listed partition, for its bookkeeping and
// whether a receive now would find a message at once (queue.Ready):
// ReceivableResult. It is answered only by a replica on this node (it has
// no wire form); other nodes are asked PartitionsQuery.
type ReceivableQuery struct {
	PartitionIDs []uint64
}

// ReceivableResult answers ReceivableQuery, one entry per partition asked
// for, in the same order.
type ReceivableResult struct {
	States []*raftv1.PartitionState // nil where the partition holds nothing
	Ready  []bool
}

// NextWakeQuery asks for the earliest shard time at which a Tick has work,
// 0 when none: int64.
type NextWakeQuery struct{}

// OutboxQuery asks for up to Limit pending dead-letter moves, oldest first:
// []*raftv1.OutboxEntry. Limit is capped at MaxOutboxQuery.
type OutboxQuery struct {
	Limit int
}

// MaxOutboxQuery bounds the outbox entries one lookup returns.
const MaxOutboxQuery = 1024

// Queries MetaSM.Lookup serves. Answers are deep copies the caller owns.

// MetaQueueQuery asks for one queue by name: *raftv1.QueueRecord, nil when
// there is no such queue.
type MetaQueueQuery struct {
	Name string
}

// MetaListQuery asks for up to Limit queue names with Prefix after After:
// MetaListResult. Limit is capped at core.MaxListQueuesResults.
type MetaListQuery struct {
	Prefix string
	After  string
	Limit  int
}

// MetaListResult answers MetaListQuery.
type MetaListResult struct {
	Names []string
	More  bool
}

// MetaShardsQuery asks for the registered shards in shard id order:
// []*raftv1.ShardRecord. The queue shards only, unless IncludeMeta.
type MetaShardsQuery struct {
	// IncludeMeta adds the metadata shard's record (shard 1, first).
	IncludeMeta bool
}

// MetaShardQuery asks for one shard, the metadata shard included:
// *raftv1.ShardRecord, nil when there is no such shard.
type MetaShardQuery struct {
	ShardID uint64
}

// MetaNodesQuery asks for the registered nodes in node id order:
// []*raftv1.NodeRecord.
type MetaNodesQuery struct{}

// MetaNodeQuery asks for one node: *raftv1.NodeRecord, nil when there is no
// such node.
type MetaNodeQuery struct {
	NodeID uint64
}

// MetaClusterQuery asks for the cluster's layout, the input of
// core/placement: *raftv1.MetaState holding the nodes, every shard, the
// replica id counter, the replication factor and the clock, but no queues
// and no pending drops.
type MetaClusterQuery struct{}

// MetaAppliedQuery asks for the index of the last entry the metadata state
// machine applied: uint64, 0 after a snapshot recovery until the next entry
// (the caller takes the larger of it and the snapshot's index). It is for
// status reports, through a local (stale) read.
type MetaAppliedQuery struct{}

package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Metadata reads go through the metadata shard's linearizable reads, so a
// request never acts on a queue that was deleted before it arrived. The data
// path (send, receive, delete, change visibility) takes queue records from
// the node's cache instead, which keeps that promise another way: see
// qcache.go.

// readShards returns the registered queue shards.
func (n *Node) readShards(ctx context.Context) ([]*raftv1.ShardRecord, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaShardsQuery{})
	if err != nil {
		return nil, err
	}
	shards, ok := v.([]*raftv1.ShardRecord)
	if !ok {
		return nil, core.Errorf(core.Internal, "metadata shards lookup returned %T", v)
	}
	return shards, nil
}

// findQueue returns the named queue's record; nil when there is none.
// Every lookup refreshes the node's queue cache (qcache.go).
func (n *Node) findQueue(ctx context.Context, name string) (*raftv1.QueueRecord, error) {
	gen, began := n.qcache.gen.Load(), time.Now()
	v, err := n.read(ctx, metaShardID, shard.MetaQueueQuery{Name: name})
	if err != nil {
		return nil, err
	}
	rec, ok := v.(*raftv1.QueueRecord)
	if !ok {
		return nil, core.Errorf(core.Internal, "metadata queue lookup returned %T", v)
	}
	if rec == nil || len(rec.GetPartitions()) == 0 {
		n.qcache.forget(name)
	} else {
		n.qcache.put(name, rec, gen, began)
	}
	return rec, nil
}

// queue validates the queue name in field and returns its record, or a
// not_found error.
func (n *Node) queue(ctx context.Context, field, name string) (*raftv1.QueueRecord, error) {
	if err := validate.QueueName(field, name); err != nil {
		return nil, err
	}
	rec, err := n.findQueue(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, core.Errorf(core.NotFound, "queue %q does not exist", name)
	}
	if len(rec.GetPartitions()) == 0 {
		return nil, core.Errorf(core.Internal, "queue %q has no partitions", name)
	}
	return rec, nil
}

// listQueues reads a page of queue names.
func (n *Node) listQueues(ctx context.Context, prefix, after string, limit int) (shard.MetaListResult, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaListQuery{Prefix: prefix, After: after, Limit: limit})
	if err != nil {
		return shard.MetaListResult{}, err
	}
	res, ok := v.(shard.MetaListResult)
	if !ok {
		return shard.MetaListResult{}, core.Errorf(core.Internal, "metadata list lookup returned %T", v)
	}
	return res, nil
}

// pendingDrops reads up to limit partitions of deleted queues still to be
// dropped, with partition ids above after, in id order.
func (n *Node) pendingDrops(ctx context.Context, after uint64, limit int) ([]*raftv1.Placement, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaPendingDropsQuery{After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	pending, ok := v.([]*raftv1.Placement)
	if !ok {
		return nil, core.Errorf(core.Internal, "metadata pending drops lookup returned %T", v)
	}
	return pending, nil
}

// partitionStates reads the bookkeeping of partitions on one queue shard.
func (n *Node) partitionStates(ctx context.Context, shardID uint64, ids []uint64) ([]*raftv1.PartitionState, error) {
	v, err := n.read(ctx, shardID, shard.PartitionsQuery{PartitionIDs: ids})
	if err != nil {
		return nil, err
	}
	states, ok := v.([]*raftv1.PartitionState)
	if !ok || len(states) != len(ids) {
		return nil, core.Errorf(core.Internal, "partition lookup on shard %d returned %T", shardID, v)
	}
	return states, nil
}

// deadLetterTarget resolves a queue's redrive policy: nil when it has none
// or its dead-letter queue does not exist now (then receives never move
// messages away).
func (n *Node) deadLetterTarget(ctx context.Context, rec *raftv1.QueueRecord) (*raftv1.DeadLetterTarget, error) {
	attrs := rec.GetAttributes()
	if attrs.GetDeadLetterQueue() == "" || attrs.GetMaxReceiveCount() <= 0 {
		return nil, nil
	}
	dlq, err := n.findQueue(ctx, attrs.GetDeadLetterQueue())
	if err != nil {
		return nil, err
	}
	if dlq == nil {
		return nil, nil
	}
	return &raftv1.DeadLetterTarget{
		QueueId:         dlq.GetQueueId(),
		QueueName:       dlq.GetName(),
		MaxReceiveCount: attrs.GetMaxReceiveCount(),
	}, nil
}

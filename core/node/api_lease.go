package node

import (
	"context"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// leaseOp is one entry of a delete or visibility change: a decoded receipt
// handle's partition and lease, and for changes the new timeout.
type leaseOp struct {
	partition  int // index in the queue's placements
	lease      *raftv1.Lease
	visibility int32
}

// leaseOpFor decodes a receipt handle of the queue; field names it.
func leaseOpFor(rec *raftv1.QueueRecord, field, receiptHandle string) (leaseOp, error) {
	h, err := decodeHandle(field, receiptHandle, rec.GetQueueId())
	if err != nil {
		return leaseOp{}, err
	}
	p := partitionIndex(rec, h.partitionID)
	if p < 0 {
		return leaseOp{}, core.FieldError(field, "receipt handle is not valid for this queue")
	}
	return leaseOp{partition: p, lease: &raftv1.Lease{Seq: h.seq, ReceiveCount: h.receiveCount, Tag: h.tag}}, nil
}

// deleteCmd and changeCmd build the command for the ops on one partition.
func deleteCmd(cfg *raftv1.PartitionConfig, ops []leaseOp) *raftv1.QueueCommand {
	d := &raftv1.DeleteMessages{Partition: cfg}
	for _, op := range ops {
		d.Leases = append(d.Leases, op.lease)
	}
	return &raftv1.QueueCommand{Op: &raftv1.QueueCommand_DeleteMessages{DeleteMessages: d}}
}

func changeCmd(cfg *raftv1.PartitionConfig, ops []leaseOp) *raftv1.QueueCommand {
	c := &raftv1.ChangeVisibility{Partition: cfg}
	for _, op := range ops {
		c.Changes = append(c.Changes, &raftv1.VisibilityChange{Lease: op.lease, VisibilityTimeoutSeconds: op.visibility})
	}
	return &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: c}}
}

// runLeaseOps proposes the ops that decoded (results[i].err == nil), one
// command per partition, and fills in each op's outcome.
func (n *Node) runLeaseOps(ctx context.Context, rec *raftv1.QueueRecord, ops []leaseOp, results []entryResult,
	mk func(*raftv1.PartitionConfig, []leaseOp) *raftv1.QueueCommand) {
	order, groups := groupByPartition(len(ops), func(i int) int {
		if results[i].err != nil {
			return -1
		}
		return ops[i].partition
	})
	for _, p := range order {
		idx := groups[p]
		batch := make([]leaseOp, len(idx))
		for j, i := range idx {
			batch[j] = ops[i]
		}
		pl := rec.GetPartitions()[p]
		res, err := n.proposeQueue(ctx, pl.GetShardId(), mk(partitionConfig(rec, pl, nil), batch))
		if err == nil {
			err = commandError(res.GetStatus())
		}
		if err == nil && len(res.GetOutcomes()) != len(batch) {
			err = core.Errorf(core.Internal, "%d leases returned %d outcomes", len(batch), len(res.GetOutcomes()))
		}
		for j, i := range idx {
			if err != nil {
				results[i] = entryResult{err: err, whole: true}
				continue
			}
			results[i].err = statusError(res.GetOutcomes()[j])
		}
	}
}

func (n *Node) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	err := n.withQueue(ctx, req.GetQueue(), handlesSuspect(req.GetReceiptHandle()), func(rec *raftv1.QueueRecord) (bool, error) {
		op, err := leaseOpFor(rec, "receipt_handle", req.GetReceiptHandle())
		if err != nil {
			return false, err
		}
		results := make([]entryResult, 1)
		n.runLeaseOps(ctx, rec, []leaseOp{op}, results, deleteCmd)
		return allStale(results), results[0].err
	})
	if err != nil {
		return nil, err
	}
	return &wharfv1.DeleteMessageResponse{}, nil
}

func (n *Node) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	in := req.GetEntries()
	handles, err := batchHandles(req.GetQueue(), len(in),
		func(i int) string { return in[i].GetId() }, func(i int) string { return in[i].GetReceiptHandle() })
	if err != nil {
		return nil, err
	}
	var results []entryResult
	err = n.withQueue(ctx, req.GetQueue(), handlesSuspect(handles...), func(rec *raftv1.QueueRecord) (bool, error) {
		ops := make([]leaseOp, len(in))
		results = make([]entryResult, len(in))
		for i, e := range in {
			ops[i], results[i].err = leaseOpFor(rec, validate.EntryPrefix(i)+"receipt_handle", e.GetReceiptHandle())
		}
		n.runLeaseOps(ctx, rec, ops, results, deleteCmd)
		return batchRetry(results)
	})
	if err != nil {
		return nil, err
	}
	resp := &wharfv1.DeleteMessageBatchResponse{}
	for i, r := range results {
		if r.err != nil {
			resp.Failed = append(resp.Failed, batchError(in[i].GetId(), r.err))
		} else {
			resp.Successful = append(resp.Successful, &wharfv1.DeleteMessageBatchResultEntry{Id: in[i].GetId()})
		}
	}
	return resp, nil
}

func (n *Node) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	err := n.withQueue(ctx, req.GetQueue(), handlesSuspect(req.GetReceiptHandle()), func(rec *raftv1.QueueRecord) (bool, error) {
		op, err := leaseOpFor(rec, "receipt_handle", req.GetReceiptHandle())
		if err != nil {
			return false, err
		}
		if err := validate.VisibilityTimeout("visibility_timeout_seconds", req.GetVisibilityTimeoutSeconds()); err != nil {
			return false, err
		}
		op.visibility = req.GetVisibilityTimeoutSeconds()
		results := make([]entryResult, 1)
		n.runLeaseOps(ctx, rec, []leaseOp{op}, results, changeCmd)
		return allStale(results), results[0].err
	})
	if err != nil {
		return nil, err
	}
	return &wharfv1.ChangeMessageVisibilityResponse{}, nil
}

func (n *Node) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	in := req.GetEntries()
	handles, err := batchHandles(req.GetQueue(), len(in),
		func(i int) string { return in[i].GetId() }, func(i int) string { return in[i].GetReceiptHandle() })
	if err != nil {
		return nil, err
	}
	var results []entryResult
	err = n.withQueue(ctx, req.GetQueue(), handlesSuspect(handles...), func(rec *raftv1.QueueRecord) (bool, error) {
		ops := make([]leaseOp, len(in))
		results = make([]entryResult, len(in))
		for i, e := range in {
			prefix := validate.EntryPrefix(i)
			ops[i], results[i].err = leaseOpFor(rec, prefix+"receipt_handle", e.GetReceiptHandle())
			if results[i].err == nil {
				results[i].err = validate.VisibilityTimeout(prefix+"visibility_timeout_seconds", e.GetVisibilityTimeoutSeconds())
				ops[i].visibility = e.GetVisibilityTimeoutSeconds()
			}
		}
		n.runLeaseOps(ctx, rec, ops, results, changeCmd)
		return batchRetry(results)
	})
	if err != nil {
		return nil, err
	}
	resp := &wharfv1.ChangeMessageVisibilityBatchResponse{}
	for i, r := range results {
		if r.err != nil {
			resp.Failed = append(resp.Failed, batchError(in[i].GetId(), r.err))
		} else {
			resp.Successful = append(resp.Successful, &wharfv1.ChangeMessageVisibilityBatchResultEntry{Id: in[i].GetId()})
		}
	}
	return resp, nil
}

// batchHandles checks a lease batch's queue name and entry ids, and returns
// the entries' receipt handles.
func batchHandles(queue string, n int, id, handle func(int) string) ([]string, error) {
	if err := validate.QueueName("queue", queue); err != nil {
		return nil, err
	}
	if err := validate.BatchIDs(n, id); err != nil {
		return nil, err
	}
	handles := make([]string, n)
	for i := range handles {
		handles[i] = handle(i)
	}
	return handles, nil
}

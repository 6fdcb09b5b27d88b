package queue

import (
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// purge deletes every message of the partition. Range deletions make it
// O(1) whatever the backlog. Deduplication records survive, as in SQS.
func (a *applier) purge(cmd *raftv1.Purge) error {
	p, err := a.openPartition(cmd.Partition)
	if p == nil || err != nil {
		return err
	}
	for _, prefix := range messageScoped {
		lo := partitionPrefix(prefix, p.id)
		if err := a.tx.DeleteRange(lo, prefixEnd(lo)); err != nil {
			return err
		}
	}
	p.st.Visible, p.st.InFlight, p.st.Delayed = 0, 0, 0
	for _, prefix := range []byte{pReady, pWaiting, pExpiry, pGroupIdle} {
		p.emptyIndex(prefix)
	}
	return a.savePartition(p)
}

// drop deletes a partition of a deleted queue, and leaves a tombstone so a
// command that raced with the deletion cannot bring it back.
func (a *applier) drop(id uint64) error {
	if id == 0 {
		a.fail(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "command names no partition")
		return nil
	}
	p, err := a.loadPartition(id)
	if err != nil {
		return err
	}
	if p.st != nil && p.prevWake != 0 {
		if err := a.tx.Delete(wakeKey(p.prevWake, id)); err != nil {
			return err
		}
	}
	for _, prefix := range partitionScoped {
		lo := partitionPrefix(prefix, id)
		if err := a.tx.DeleteRange(lo, prefixEnd(lo)); err != nil {
			return err
		}
	}
	if err := a.tx.Delete(partitionKey(id)); err != nil {
		return err
	}
	return a.tx.Set(tombstoneKey(id), nil)
}

// Package queue is the queue shard state machine: SQS semantics for every
// queue partition placed on one Raft shard. It is pure: Apply reads and
// writes only the kv.Txn it is given and takes time only from the command,
// so every replica that applies the same log reaches the same state.
package queue

import (
	"github.com/wharfmq/wharf/core/kv"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Applied is what applying one command produced.
type Applied struct {
	Result *raftv1.QueueResult
	// Woken lists partitions that may have gained visible messages, for
	// waking long polls. Duplicates are possible.
	Woken []uint64
	// Outbox is true when the command added dead-letter moves to the outbox.
	Outbox bool
}

// Apply applies cmd, the Raft entry at index, to the shard state in tx and
// records index as applied. An error means storage failed; semantic failures
// (a stale receipt handle, say) are reported in Applied.Result.
func Apply(tx kv.Txn, index uint64, cmd *raftv1.QueueCommand) (Applied, error) {
	panic("TODO")
}

// ShardState returns the shard's bookkeeping (applied index, clock).
func ShardState(r kv.Reader) (*raftv1.ShardState, error) {
	panic("TODO")
}

// Partition returns a partition's bookkeeping, with its message counts as of
// the last applied command; nil when the partition holds nothing.
func Partition(r kv.Reader, partitionID uint64) (*raftv1.PartitionState, error) {
	panic("TODO")
}

// NextWake returns the earliest shard time at which a Tick has work; 0 when none.
func NextWake(r kv.Reader) (int64, error) {
	panic("TODO")
}

// Outbox returns up to limit pending dead-letter moves, oldest first.
func Outbox(r kv.Reader, limit int) ([]*raftv1.OutboxEntry, error) {
	panic("TODO")
}

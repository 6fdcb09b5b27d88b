package queue

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// CheckRecord checks that a key/value pair could have been stored by this
// package: the key has its index's layout, and a record's value decodes as
// that record. A queue shard recovering from a snapshot checks every pair
// with it, so that a damaged snapshot is refused whole, naming the key,
// rather than stored and found by the first command that reads it.
func CheckRecord(key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	var m proto.Message
	switch key[0] {
	case pShard:
		m = &raftv1.ShardState{}
	case pPartition:
		m = &raftv1.PartitionState{}
	case pMessage:
		m = &raftv1.StoredMessage{}
	case pGroup:
		m = &raftv1.GroupState{}
	case pDedup:
		m = &raftv1.Dedup{}
	case pAttempt:
		m = &raftv1.ReceiveAttempt{}
	case pOutbox:
		m = &raftv1.OutboxEntry{}
	default:
		return nil // an index entry: the key is all it holds
	}
	if err := proto.Unmarshal(value, m); err != nil {
		return fmt.Errorf("%w: decode %T at %q: %w", errCorruptKey, m, key, err)
	}
	return nil
}

package queue

import (
	"github.com/wharfmq/wharf/core/kv"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Ready reports whether the partition's ready index holds an entry: a
// visible message of a standard partition, or a FIFO group whose next
// message is visible with none of the group in flight. A receive now would
// deliver it (or move it to a dead-letter queue), unless the partition is
// at its in-flight limit. Visible counts alone cannot tell this for FIFO
// partitions, whose visible messages may all wait behind messages in
// flight. st is the partition's state (its ready floor is where the scan
// starts); nil means the partition holds nothing.
//
// Messages whose delay or lease ends by a receive's clock, which the
// receive makes visible itself, are not in the index yet: see
// PartitionState.next_wake_ms.
func Ready(r kv.Reader, partitionID uint64, st *raftv1.PartitionState) (bool, error) {
	if st == nil {
		return false, nil
	}
	floor := st.GetReadyFloor()
	start := partitionPrefix(pReady, partitionID)
	keys, _, err := scanFrom(r, start, &floor, prefixEnd(start), 1)
	if err != nil {
		return false, err
	}
	return len(keys) > 0, nil
}

package node

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// partitionConfig is the configuration a command carries for one partition
// of a queue, as read from the metadata shard. dl is the dead-letter target
// (only receives need it; nil elsewhere).
func partitionConfig(rec *raftv1.QueueRecord, pl *raftv1.Placement, dl *raftv1.DeadLetterTarget) *raftv1.PartitionConfig {
	a := rec.GetAttributes()
	return &raftv1.PartitionConfig{
		QueueId:                   rec.GetQueueId(),
		PartitionId:               pl.GetPartitionId(),
		QueueName:                 rec.GetName(),
		Fifo:                      a.GetFifo(),
		ContentBasedDeduplication: a.GetContentBasedDeduplication(),
		VisibilityTimeoutSeconds:  a.GetVisibilityTimeoutSeconds(),
		MessageRetentionSeconds:   a.GetMessageRetentionSeconds(),
		DelaySeconds:              a.GetDelaySeconds(),
		MaximumMessageBytes:       a.GetMaximumMessageBytes(),
		DeadLetter:                dl,
	}
}

// sendPartition picks the partition a message goes to: for FIFO queues the
// group's (a group lives in one partition, which keeps its order), for
// standard queues any, spreading the load.
func sendPartition(rec *raftv1.QueueRecord, groupID string, r *lockedRand) int {
	n := len(rec.GetPartitions())
	if n <= 1 {
		return 0
	}
	if rec.GetAttributes().GetFifo() {
		return groupPartition(groupID, n)
	}
	return r.IntN(n)
}

// groupPartition is hash(group) mod n. The hash must never change: it
// decides where a group's messages already are.
func groupPartition(groupID string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(groupID))
	return int(h.Sum64() % uint64(n))
}

// receiveOrder is the order in which a receive tries the queue's n
// partitions: from a random one, so that receivers spread over them. A FIFO
// receive with an attempt id (attemptID != "") starts at hash(attempt id)
// instead: the partition that answered the first attempt remembers it, and
// a retry must look at the partitions in the same order to reach it before
// leasing other messages elsewhere. (It still leases elsewhere if a
// partition ahead of that one gained visible messages in between.)
func receiveOrder(n int, attemptID string, r *lockedRand) []int {
	order := make([]int, n)
	start := 0
	switch {
	case n <= 1:
	case attemptID != "":
		start = groupPartition(attemptID, n)
	default:
		start = r.IntN(n)
	}
	for i := range order {
		order[i] = (start + i) % n
	}
	return order
}

// partitionIndex returns the index in the queue's placements of a
// partition id; -1 if the queue has no such partition.
func partitionIndex(rec *raftv1.QueueRecord, partitionID uint64) int {
	for i, pl := range rec.GetPartitions() {
		if pl.GetPartitionId() == partitionID {
			return i
		}
	}
	return -1
}

// lockedRand is the node's source for choices that need no secrecy (which
// partition a receive tries first). It is seeded from Config.Rand at Start,
// so a simulator that seeds Config.Rand makes these choices repeatable.
type lockedRand struct {
	mu sync.Mutex // *rand.Rand is not safe for concurrent use
	r  *rand.Rand
}

// newLockedRand seeds a lockedRand with 16 bytes of seed.
func newLockedRand(seed io.Reader) (*lockedRand, error) {
	var b [16]byte
	if _, err := io.ReadFull(seed, b[:]); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	src := rand.NewPCG(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
	return &lockedRand{r: rand.New(src)}, nil
}

// IntN returns a number in [0, n); n > 0.
func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

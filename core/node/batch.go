package node

import (
	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// entryResult is the outcome of one batch entry: err nil on success.
// whole marks an error of the command the entry was part of (the shard was
// unavailable, say) rather than of the entry itself.
type entryResult struct {
	err   error
	whole bool
}

// wholeFailure returns the error to fail a batch request with: when every
// entry failed because its command failed, the request as a whole failed
// (a client should retry it, not pick through entries). nil otherwise.
func wholeFailure(results []entryResult) error {
	if len(results) == 0 {
		return nil
	}
	for _, r := range results {
		if r.err == nil || !r.whole {
			return nil
		}
	}
	return results[0].err
}

// batchError is the API form of a failed batch entry.
func batchError(id string, err error) *wharfv1.BatchResultErrorEntry {
	code := core.CodeOf(err)
	return &wharfv1.BatchResultErrorEntry{
		Id:          id,
		Code:        code.String(),
		Message:     err.Error(),
		SenderFault: senderFault(code),
	}
}

// senderFault reports whether an error code blames the request (fixing it
// is the client's job) rather than the server.
func senderFault(c core.Code) bool {
	switch c {
	case core.InvalidArgument, core.NotFound, core.AlreadyExists, core.FailedPrecondition, core.ResourceExhausted:
		return true
	default:
		return false
	}
}

// groupByPartition groups entry indexes by partition index, keeping the
// order in which partitions first appear and entries within a partition, so
// that a batch becomes one proposal per partition.
func groupByPartition(n int, partitionOf func(i int) int) (order []int, groups map[int][]int) {
	groups = make(map[int][]int)
	for i := range n {
		p := partitionOf(i)
		if p < 0 {
			continue
		}
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = append(groups[p], i)
	}
	return order, groups
}

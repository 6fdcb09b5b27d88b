package queue

import (
	"bytes"
	"slices"

	"github.com/wharfmq/wharf/core/kv"
)

// Floors are low-water marks: no live key of an index sorts below its floor.
// Receives and deletes remove keys from the front of the ready, waiting and
// expiry indexes, and Pebble, like any LSM, keeps the tombstones until a
// compaction drops them. A scan from the start of the index would walk over
// all of them, every time: a queue would get slower the more it had served.
// Scans start at the floor instead and raise it to the first live key they
// find; every insert lowers it if it must.

// floor returns the partition's floor for a floored index.
func (p *partition) floor(prefix byte) *[]byte {
	switch prefix {
	case pReady:
		return &p.st.ReadyFloor
	case pWaiting:
		return &p.st.WaitingFloor
	case pExpiry:
		return &p.st.ExpiryFloor
	case pDedupExp:
		return &p.st.DedupExpiryFloor
	case pAttemptExp:
		return &p.st.AttemptExpiryFloor
	case pGroupIdle:
		return &p.st.GroupIdleFloor
	}
	panic("queue: index " + string(prefix) + " has no floor")
}

// file sets key in one of the partition's floored indexes. A key of a
// timed index brings the partition's wake forward if it must (see
// savePartition).
func (a *applier) file(p *partition, prefix byte, key, value []byte) error {
	lower(p.floor(prefix), key)
	if timed(prefix) {
		t := max(timeOf(key), 1) // 0 means "none"
		if p.filedWake == 0 || t < p.filedWake {
			p.filedWake = t
		}
	}
	return a.tx.Set(key, value)
}

// timedIndexes are the indexes whose entries fall due: a Tick has work when
// the earliest of them is due.
var timedIndexes = []byte{pWaiting, pExpiry, pDedupExp, pAttemptExp, pGroupIdle}

func timed(prefix byte) bool { return slices.Contains(timedIndexes, prefix) }

// lower makes floor at most key.
func lower(floor *[]byte, key []byte) {
	if len(*floor) > 0 && bytes.Compare(key, *floor) < 0 {
		*floor = append([]byte(nil), key...)
	}
}

// scanIndex scans up to limit keys of one of the partition's floored indexes
// in [floor, upper); a nil upper means to the end of the index. It raises the
// floor to the first key found, or to upper when there is none.
func (a *applier) scanIndex(p *partition, prefix byte, upper []byte, limit int) (keys, values [][]byte, err error) {
	start := partitionPrefix(prefix, p.id)
	if upper == nil {
		upper = prefixEnd(start)
	}
	keys, values, err = scanFrom(a.tx, start, p.floor(prefix), upper, limit)
	return keys, values, err
}

// scanFrom scans [max(start, floor), upper) and raises floor as scanIndex does.
func scanFrom(r kv.Reader, start []byte, floor *[]byte, upper []byte, limit int) (keys, values [][]byte, err error) {
	lo := start
	if len(*floor) > 0 && bytes.Compare(*floor, lo) > 0 {
		lo = *floor
	}
	if bytes.Compare(lo, upper) >= 0 {
		return nil, nil, nil
	}
	keys, values, err = scan(r, lo, upper, limit)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) > 0 {
		*floor = append([]byte(nil), keys[0]...)
	} else {
		*floor = append([]byte(nil), upper...)
	}
	return keys, values, nil
}

// emptyIndex records that a floored index holds nothing (after a purge).
func (p *partition) emptyIndex(prefix byte) {
	*p.floor(prefix) = prefixEnd(partitionPrefix(prefix, p.id))
}

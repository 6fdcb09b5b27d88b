package queue

import (
	"crypto/sha256"
	"fmt"

	"github.com/wharfmq/wharf/core/kv"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// maxCheckedMessages bounds CheckInvariants; it is meant for tests and the
// simulator, not for production-sized stores.
const maxCheckedMessages = 1 << 20

// CheckInvariants verifies that the indexes and counts of every partition
// agree with its messages: each message sits in exactly the index its state
// names, counts match, and every index entry names a message.
func CheckInvariants(r kv.Reader) error {
	lo := []byte{pPartition}
	keys, values, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
	if err != nil {
		return err
	}
	for i, k := range keys {
		st := &raftv1.PartitionState{}
		if err := unmarshal(values[i], st); err != nil {
			return err
		}
		if err := checkPartition(r, appendU64Decode(k[1:9]), st); err != nil {
			return err
		}
	}
	// A dropped partition has no record (openPartition relies on it).
	lo = []byte{pTombstone}
	dropped, _, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
	if err != nil {
		return err
	}
	for _, k := range dropped {
		if _, found, err := r.Get(partitionKey(appendU64Decode(k[1:9]))); err != nil || found {
			return fmt.Errorf("dropped partition %d still has a record (err %v)", appendU64Decode(k[1:9]), err)
		}
	}
	shard, err := ShardState(r)
	if err != nil {
		return err
	}
	if err := checkFloor(r, []byte{pWake}, shard.WakeFloor, "wake index"); err != nil {
		return err
	}
	return checkFloor(r, []byte{pOutbox}, outboxKey(shard.OutboxFloor), "outbox")
}

// checkFloor verifies that no key of the index starting at start sorts
// below floor.
func checkFloor(r kv.Reader, start, floor []byte, what string) error {
	if len(floor) == 0 || string(floor) <= string(start) {
		return nil
	}
	k, err := firstKey(r, start, floor)
	if err != nil {
		return err
	}
	if k != nil {
		return fmt.Errorf("%s: key %q below the floor %q", what, k, floor)
	}
	return nil
}

func checkFloors(r kv.Reader, p uint64, st *raftv1.PartitionState) error {
	pt := &partition{id: p, st: st}
	for _, prefix := range []byte{pReady, pWaiting, pExpiry, pDedupExp, pAttemptExp, pGroupIdle} {
		if err := checkFloor(r, partitionPrefix(prefix, p), *pt.floor(prefix), fmt.Sprintf("partition %d index %c", p, prefix)); err != nil {
			return err
		}
	}
	lo := partitionPrefix(pGroup, p)
	keys, values, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
	if err != nil {
		return err
	}
	for i, k := range keys {
		g := &raftv1.GroupState{}
		if err := unmarshal(values[i], g); err != nil {
			return err
		}
		group := string(k[len(lo):])
		if groupEmpty(g) && g.IdleAtMs == 0 {
			return fmt.Errorf("partition %d: group %q is empty and not in the idle index", p, group)
		}
		if g.IdleAtMs != 0 {
			if _, found, err := r.Get(groupIdleKey(p, g.IdleAtMs, group)); err != nil || !found {
				return fmt.Errorf("partition %d: group %q says idle at %d, the idle index has no entry (err %v)", p, group, g.IdleAtMs, err)
			}
		}
		if g.FloorSeq != 0 {
			if err := checkFloor(r, groupPrefix(p, group), groupMessageKey(p, group, g.FloorSeq), "group "+group); err != nil {
				return err
			}
		}
	}
	// Every idle entry names a group that says so.
	lo = partitionPrefix(pGroupIdle, p)
	idle, _, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
	if err != nil {
		return err
	}
	for _, k := range idle {
		g := &raftv1.GroupState{}
		found, err := getRecord(r, groupKey(p, string(k[17:])), g)
		if err != nil {
			return err
		}
		if !found || g.IdleAtMs != timeOf(k) {
			return fmt.Errorf("partition %d: idle entry %q names no group idle at %d", p, k, timeOf(k))
		}
	}
	return nil
}

func checkPartition(r kv.Reader, p uint64, st *raftv1.PartitionState) error {
	if err := checkFloors(r, p, st); err != nil {
		return err
	}
	if err := checkWake(r, p, st); err != nil {
		return err
	}
	lo := partitionPrefix(pMessage, p)
	_, values, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
	if err != nil {
		return err
	}
	var visible, inFlight, delayed int64
	want := map[string]bool{}
	for _, v := range values {
		m := &raftv1.StoredMessage{}
		if err := unmarshal(v, m); err != nil {
			return err
		}
		if m.Seq >= st.NextSeq {
			return fmt.Errorf("partition %d: message seq %d not below next seq %d", p, m.Seq, st.NextSeq)
		}
		want[string(timedKey(pExpiry, p, m.ExpiresAtMs, m.Seq))] = true
		switch m.State {
		case raftv1.MessageState_MESSAGE_STATE_VISIBLE:
			visible++
			if !st.Fifo {
				want[string(timedKey(pReady, p, m.ReadyAtMs, m.Seq))] = true
			}
		case raftv1.MessageState_MESSAGE_STATE_IN_FLIGHT:
			inFlight++
			want[string(timedKey(pWaiting, p, m.VisibleAtMs, m.Seq))] = true
		case raftv1.MessageState_MESSAGE_STATE_DELAYED:
			delayed++
			want[string(timedKey(pWaiting, p, m.VisibleAtMs, m.Seq))] = true
		default:
			return fmt.Errorf("partition %d message %d: state %v", p, m.Seq, m.State)
		}
		if st.Fifo {
			want[string(groupMessageKey(p, m.GroupId, m.Seq))] = true
		}
	}
	if visible != st.Visible || inFlight != st.InFlight || delayed != st.Delayed {
		return fmt.Errorf("partition %d: counts say visible %d, in flight %d, delayed %d; messages say %d, %d, %d",
			p, st.Visible, st.InFlight, st.Delayed, visible, inFlight, delayed)
	}
	prefixes := []byte{pExpiry, pWaiting, pGroupMsg}
	if !st.Fifo {
		prefixes = append(prefixes, pReady)
	}
	var got int
	for _, prefix := range prefixes {
		lo := partitionPrefix(prefix, p)
		keys, _, err := scan(r, lo, prefixEnd(lo), maxCheckedMessages)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !want[string(k)] {
				return fmt.Errorf("partition %d: index entry %q names no message in that state", p, k)
			}
			got++
		}
	}
	if got != len(want) {
		return fmt.Errorf("partition %d: %d index entries expected, %d found", p, len(want), got)
	}
	return nil
}

// checkWake verifies the partition's wake (see savePartition): filed in the
// shard's wake index, never later than the earliest entry of a timed index,
// and 0 only when those are empty.
func checkWake(r kv.Reader, p uint64, st *raftv1.PartitionState) error {
	if st.NextWakeMs != 0 {
		_, found, err := r.Get(wakeKey(st.NextWakeMs, p))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("partition %d: wake %d not in the wake index", p, st.NextWakeMs)
		}
	}
	for _, prefix := range timedIndexes {
		lo := partitionPrefix(prefix, p)
		k, err := firstKey(r, lo, prefixEnd(lo))
		if err != nil {
			return err
		}
		if k == nil {
			continue
		}
		if t := max(timeOf(k), 1); st.NextWakeMs == 0 || t < st.NextWakeMs {
			return fmt.Errorf("partition %d: index %c has an entry due at %d, before the wake %d", p, prefix, t, st.NextWakeMs)
		}
	}
	return nil
}

// Hash returns a digest of the whole shard state. Replicas at the same
// applied index must have equal hashes.
func Hash(r kv.Reader) ([32]byte, error) {
	it, err := r.Iter(nil, nil)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	var n [8]byte
	for ok := it.First(); ok; ok = it.Next() {
		for _, b := range [][]byte{it.Key(), it.Value()} {
			h.Write(appendU64(n[:0], uint64(len(b))))
			h.Write(b)
		}
	}
	if err := it.Close(); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// maxRequestIDs bounds RequestIDs: like CheckInvariants, it is for tests and
// the simulator, not production-sized stores.
const maxRequestIDs = 1 << 20

// RequestIDs returns the request ids the shard remembers as applied (within
// their deduplication window): how a simulator learns the fate of a send
// whose client saw no answer.
func RequestIDs(r kv.Reader) (map[string]bool, error) {
	lo := []byte{pDedup}
	keys, _, err := scan(r, lo, prefixEnd(lo), maxRequestIDs)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, k := range keys {
		// dedupKey: 'd' | partition (8 bytes) | kind | id
		if len(k) > 10 && k[9] == dedupRequest {
			ids[string(k[10:])] = true
		}
	}
	return ids, nil
}

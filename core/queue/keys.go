package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key prefixes. docs/design.md has the table of what each holds. Integers
// are big-endian and fixed width so that keys sort numerically.
const (
	pShard      = 's'
	pPartition  = 'p'
	pMessage    = 'm'
	pReady      = 'r'
	pWaiting    = 'w'
	pExpiry     = 'x'
	pGroupMsg   = 'g'
	pGroup      = 'G'
	pDedup      = 'd'
	pDedupExp   = 'D'
	pAttempt    = 'a'
	pAttemptExp = 'A'
	pGroupIdle  = 'I'
	pWake       = 'k'
	pOutbox     = 'o'
	pTombstone  = 't'
)

// Dedup record kinds, so one index serves several id spaces.
const (
	dedupFIFO    = 'f'
	dedupImport  = 'i'
	dedupRequest = 'r' // client request ids: safe retries of sends
)

func key(prefix byte, n int) []byte {
	b := make([]byte, 1, 1+n)
	b[0] = prefix
	return b
}

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendTime appends a millisecond timestamp; times before the epoch sort as 0.
func appendTime(b []byte, ms int64) []byte {
	if ms < 0 {
		ms = 0
	}
	return appendU64(b, uint64(ms))
}

func shardKey() []byte { return []byte{pShard} }

func partitionKey(p uint64) []byte { return appendU64(key(pPartition, 8), p) }

func tombstoneKey(p uint64) []byte { return appendU64(key(pTombstone, 8), p) }

func messageKey(p, seq uint64) []byte { return appendU64(appendU64(key(pMessage, 16), p), seq) }

// timedKey is prefix | p | at | seq: the ready, waiting and expiry indexes.
func timedKey(prefix byte, p uint64, at int64, seq uint64) []byte {
	return appendU64(appendTime(appendU64(key(prefix, 24), p), at), seq)
}

// groupIdleKey is I | p | at | group: the idle index, of empty groups whose
// records a Tick deletes at that time.
func groupIdleKey(p uint64, at int64, group string) []byte {
	return append(appendTime(appendU64(key(pGroupIdle, 16+len(group)), p), at), group...)
}

// partitionPrefix is prefix | p, the start of a partition's range in one index.
func partitionPrefix(prefix byte, p uint64) []byte { return appendU64(key(prefix, 8), p) }

// prefixEnd returns the smallest key greater than every key starting with b.
func prefixEnd(b []byte) []byte {
	end := append([]byte(nil), b...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // b is all 0xff: no upper bound
}

// timedUpTo returns the end of a partition's timed index for times <= now.
func timedUpTo(prefix byte, p uint64, now int64) []byte {
	return appendTime(partitionPrefix(prefix, p), now+1)
}

// timeOf returns the time in a timed key (prefix | p | at | ...).
func timeOf(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[9:17])) }

// seqOf returns the seq at the end of a timed or group-message key.
func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// groupPrefix is g | p | len(group) | group: one FIFO group's messages.
func groupPrefix(p uint64, group string) []byte {
	b := appendU64(key(pGroupMsg, 9+len(group)), p)
	b = append(b, byte(len(group)))
	return append(b, group...)
}

func groupMessageKey(p uint64, group string, seq uint64) []byte {
	return appendU64(groupPrefix(p, group), seq)
}

func groupKey(p uint64, group string) []byte {
	return append(appendU64(key(pGroup, 8+len(group)), p), group...)
}

func dedupKey(p uint64, kind byte, id string) []byte {
	return append(append(appendU64(key(pDedup, 9+len(id)), p), kind), id...)
}

func dedupExpiryKey(p uint64, at int64, kind byte, id string) []byte {
	return append(append(appendTime(appendU64(key(pDedupExp, 17+len(id)), p), at), kind), id...)
}

func attemptKey(p uint64, id string) []byte {
	return append(appendU64(key(pAttempt, 8+len(id)), p), id...)
}

func attemptExpiryKey(p uint64, at int64, id string) []byte {
	return append(appendTime(appendU64(key(pAttemptExp, 16+len(id)), p), at), id...)
}

func wakeKey(at int64, p uint64) []byte { return appendU64(appendTime(key(pWake, 16), at), p) }

func outboxKey(id uint64) []byte { return appendU64(key(pOutbox, 8), id) }

// partitionScoped lists every index that a partition owns, for purge and drop.
var partitionScoped = []byte{pMessage, pReady, pWaiting, pExpiry, pGroupMsg, pGroup, pGroupIdle, pDedup, pDedupExp, pAttempt, pAttemptExp}

// messageScoped lists the indexes that hold messages, which a purge empties.
var messageScoped = []byte{pMessage, pReady, pWaiting, pExpiry, pGroupMsg, pGroup, pGroupIdle}

func appendU64Decode(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// errCorruptKey marks a stored key that does not have its index's layout
// (or, from CheckRecord, a record that does not decode): the store was
// damaged, or filled from a damaged snapshot.
var errCorruptKey = errors.New("corrupt record")

// checkKey checks that k has the layout of the index its prefix names, so
// that the decoders above (timeOf, seqOf, the fixed offsets) can read it.
// Every key a scan returns passes through it: a damaged store then fails
// the command with an error naming the key, where it would panic.
func checkKey(k []byte) error {
	if len(k) == 0 {
		return fmt.Errorf("%w: empty", errCorruptKey)
	}
	// exact is the key's length, or 0 when it ends with a variable part
	// of at least min-fixed bytes (min: the fixed part's length).
	var exact, least int
	switch k[0] {
	case pShard:
		exact = 1
	case pPartition, pTombstone, pOutbox:
		exact = 9 // prefix | id
	case pMessage, pWake:
		exact = 17 // prefix | p | seq, prefix | at | p
	case pReady, pWaiting, pExpiry:
		exact = 25 // prefix | p | at | seq
	case pGroup, pAttempt:
		least = 9 // prefix | p | name
	case pDedup:
		least = 10 // prefix | p | kind | id
	case pGroupIdle, pAttemptExp:
		least = 17 // prefix | p | at | name
	case pDedupExp:
		least = 18 // prefix | p | at | kind | id
	case pGroupMsg:
		// g | p | len(group) | group | seq
		if len(k) < 18 || int(k[9]) != len(k)-18 {
			return fmt.Errorf("%w: index %c key %q does not hold a group and a seq", errCorruptKey, k[0], k)
		}
		return nil
	default:
		return fmt.Errorf("%w: %q belongs to no index", errCorruptKey, k)
	}
	if exact != 0 && len(k) != exact {
		return fmt.Errorf("%w: index %c key %q has %d bytes, want %d", errCorruptKey, k[0], k, len(k), exact)
	}
	if len(k) < least {
		return fmt.Errorf("%w: index %c key %q has %d bytes, want at least %d", errCorruptKey, k[0], k, len(k), least)
	}
	return nil
}

package queue

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckRecordRefusesWhatNoIndexHolds(t *testing.T) {
	good := map[string][]byte{
		"shard":         shardKey(),
		"partition":     partitionKey(7),
		"message":       messageKey(7, 1),
		"ready":         timedKey(pReady, 7, t0, 1),
		"group":         groupKey(7, ""),
		"group message": groupMessageKey(7, "g1", 3),
		"group idle":    groupIdleKey(7, t0, "g1"),
		"dedup":         dedupKey(7, dedupFIFO, ""),
		"dedup expiry":  dedupExpiryKey(7, t0, dedupRequest, "r"),
		"attempt":       attemptKey(7, "a"),
		"wake":          wakeKey(t0, 7),
		"outbox":        outboxKey(3),
		"tombstone":     tombstoneKey(7),
	}
	for name, k := range good {
		if err := CheckRecord(k, nil); err != nil {
			t.Errorf("%s key %q refused: %v", name, k, err)
		}
	}
	bad := map[string][]byte{
		"empty":               {},
		"no index":            []byte("z123"),
		"short wake":          wakeKey(t0, 7)[:16],
		"long message":        append(messageKey(7, 1), 0),
		"short ready":         timedKey(pReady, 7, t0, 1)[:17],
		"group length lies":   append(groupMessageKey(7, "g1", 3), 'x'),
		"short group message": groupMessageKey(7, "", 3)[:17],
		"short idle":          groupIdleKey(7, t0, "")[:16],
		"short dedup expiry":  dedupExpiryKey(7, t0, dedupRequest, "")[:17],
	}
	for name, k := range bad {
		err := CheckRecord(k, nil)
		if !errors.Is(err, errCorruptKey) {
			t.Errorf("%s: key %q passed (%v)", name, k, err)
		}
	}
	err := CheckRecord(messageKey(7, 1), []byte{0xff})
	if !errors.Is(err, errCorruptKey) || !strings.Contains(err.Error(), "StoredMessage") {
		t.Errorf("a message that does not decode: %v", err)
	}
}

package queue

import (
	"fmt"

	"github.com/wharfmq/wharf/core/kv"
	"google.golang.org/protobuf/proto"
)

// marshal is deterministic so replicas write identical bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// getRecord reads key into m; found is false when key is absent.
func getRecord(r kv.Reader, key []byte, m proto.Message) (bool, error) {
	v, found, err := r.Get(key)
	if err != nil || !found {
		return false, err
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return false, fmt.Errorf("decode %T at %q: %w", m, key, err)
	}
	return true, nil
}

func putRecord(w kv.Writer, key []byte, m proto.Message) error {
	v, err := marshal.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	return w.Set(key, v)
}

// scan returns up to limit keys and values in [lower, upper), collected
// first: the caller may then change the range without disturbing an open
// iterator.
func scan(r kv.Reader, lower, upper []byte, limit int) (keys, values [][]byte, err error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	it, err := r.Iter(lower, upper)
	if err != nil {
		return nil, nil, err
	}
	// Stop at the limit before stepping again: a Next past the last key
	// wanted walks over every deleted key up to the next live one or upper
	// (Pebble keeps tombstones until compaction), and the floor scans ask
	// for 1 key of indexes whose deleted keys pile up behind the live ones.
	for ok := it.First(); ok; ok = it.Next() {
		if err := checkKey(it.Key()); err != nil {
			it.Close()
			return nil, nil, err
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
		values = append(values, append([]byte(nil), it.Value()...))
		if len(keys) >= limit {
			break
		}
	}
	return keys, values, it.Close()
}

// firstKey returns the first key in [lower, upper), or nil.
func firstKey(r kv.Reader, lower, upper []byte) ([]byte, error) {
	keys, _, err := scan(r, lower, upper, 1)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return keys[0], nil
}

func unmarshal(v []byte, m proto.Message) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}

// Package kv is the ordered key-value interface Wharf's state machines run on,
// with a Pebble implementation. Keys sort bytewise.
package kv

// Reader reads keys and ranges.
type Reader interface {
	// Get returns a copy of key's value; found is false when key is absent.
	Get(key []byte) (value []byte, found bool, err error)
	// Iter iterates over keys in [lower, upper) in ascending order. A nil
	// upper means no upper bound. The caller closes it.
	Iter(lower, upper []byte) (Iterator, error)
}

// Iterator walks a key range. Key and Value are valid until the next move.
type Iterator interface {
	First() bool
	Next() bool
	Valid() bool
	Key() []byte
	Value() []byte
	Close() error
}

// Writer changes keys.
type Writer interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	// DeleteRange deletes every key in [start, end).
	DeleteRange(start, end []byte) error
}

// Txn reads its own writes. Nothing is visible outside it until it commits.
type Txn interface {
	Reader
	Writer
}

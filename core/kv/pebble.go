package kv

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// DB is a Pebble database. It is a Reader over its latest committed state.
// Using a DB after Close panics (Pebble's behaviour), so owners that allow
// concurrent readers must guard Close themselves.
type DB struct {
	db *pebble.DB
}

var _ Reader = (*DB)(nil)

// Open opens (creating if needed) the Pebble database in dir. A nil fs means
// the real file system; tests pass vfs.NewMem().
func Open(dir string, fs vfs.FS) (*DB, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if err := makeDurableDir(fs, dir); err != nil {
		return nil, err
	}
	opts := &pebble.Options{
		FS:     fs,
		Logger: pebbleLogger{},
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble at %q: %w", dir, err)
	}
	return &DB{db: db}, nil
}

// Close closes the database. Open transactions, snapshots and iterators must
// be closed first.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close pebble: %w", err)
	}
	return nil
}

// Get returns a copy of key's committed value.
func (d *DB) Get(key []byte) ([]byte, bool, error) {
	return getCopy(d.db.Get(key))
}

// Iter iterates over committed keys in [lower, upper).
func (d *DB) Iter(lower, upper []byte) (Iterator, error) {
	return d.db.NewIter(iterOptions(lower, upper)), nil
}

// Sync makes every write committed so far durable: it syncs Pebble's WAL
// (an empty log record written with Sync forces the fsync).
func (d *DB) Sync() error {
	if err := d.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync pebble wal: %w", err)
	}
	return nil
}

// NewTxn starts a read-your-writes transaction (a Pebble indexed batch).
func (d *DB) NewTxn() *Tx {
	return &Tx{b: d.db.NewIndexedBatch()}
}

// NewBatch starts a write-only batch; cheaper than a Txn for bulk loads
// because it keeps no index.
func (d *DB) NewBatch() *Batch {
	return &Batch{b: d.db.NewBatch()}
}

// NewSnapshot returns a consistent read-only view of the committed state.
// The caller closes it.
func (d *DB) NewSnapshot() *Snapshot {
	return &Snapshot{s: d.db.NewSnapshot()}
}

// Tx is the Pebble Txn: an indexed batch. (Txn is the interface.) Reads see the committed state plus the
// txn's own writes. An iterator sees the writes made before it was opened.
type Tx struct {
	b    *pebble.Batch
	done bool
}

var _ Txn = (*Tx)(nil)

// Get returns a copy of key's value as the txn sees it.
func (t *Tx) Get(key []byte) ([]byte, bool, error) {
	return getCopy(t.b.Get(key))
}

// Iter iterates over [lower, upper) as the txn sees it when Iter is called.
func (t *Tx) Iter(lower, upper []byte) (Iterator, error) {
	it := t.b.NewIter(iterOptions(lower, upper))
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, fmt.Errorf("txn iterator: %w", err)
	}
	return it, nil
}

func (t *Tx) Set(key, value []byte) error         { return t.b.Set(key, value, nil) }
func (t *Tx) Delete(key []byte) error             { return t.b.Delete(key, nil) }
func (t *Tx) DeleteRange(start, end []byte) error { return t.b.DeleteRange(start, end, nil) }

// Commit applies the txn atomically. With sync the write is durable on
// return; without, a crash may lose it (and every later write) but never
// apply it partially. The txn is closed afterwards either way.
func (t *Tx) Commit(sync bool) error {
	if t.done {
		return errors.New("commit of a closed txn")
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	err := t.b.Commit(opts)
	t.Close()
	if err != nil {
		return fmt.Errorf("commit txn: %w", err)
	}
	return nil
}

// Close discards the txn if it was not committed. Closing twice is harmless.
func (t *Tx) Close() {
	if t.done {
		return
	}
	t.done = true
	_ = t.b.Close()
}

// Batch is a write-only batch.
type Batch struct {
	b    *pebble.Batch
	done bool
}

var _ Writer = (*Batch)(nil)

func (b *Batch) Set(key, value []byte) error         { return b.b.Set(key, value, nil) }
func (b *Batch) Delete(key []byte) error             { return b.b.Delete(key, nil) }
func (b *Batch) DeleteRange(start, end []byte) error { return b.b.DeleteRange(start, end, nil) }

// Len is the encoded size of the batch in bytes, for bounding batch sizes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically and closes it.
func (b *Batch) Commit(sync bool) error {
	if b.done {
		return errors.New("commit of a closed batch")
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	err := b.b.Commit(opts)
	b.Close()
	if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	return nil
}

// Close discards the batch if it was not committed.
func (b *Batch) Close() {
	if b.done {
		return
	}
	b.done = true
	_ = b.b.Close()
}

// Snapshot is a point-in-time read-only view.
type Snapshot struct {
	s *pebble.Snapshot
}

var _ Reader = (*Snapshot)(nil)

func (s *Snapshot) Get(key []byte) ([]byte, bool, error) {
	return getCopy(s.s.Get(key))
}

func (s *Snapshot) Iter(lower, upper []byte) (Iterator, error) {
	return s.s.NewIter(iterOptions(lower, upper)), nil
}

// Close releases the snapshot.
func (s *Snapshot) Close() error {
	if err := s.s.Close(); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	return nil
}

// getCopy turns Pebble's Get (a value valid until the closer is closed) into
// an owned copy, so callers never hold Pebble memory.
func getCopy(v []byte, closer interface{ Close() error }, err error) ([]byte, bool, error) {
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebble get: %w", err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	if err := closer.Close(); err != nil {
		return nil, false, fmt.Errorf("pebble get: release value: %w", err)
	}
	return out, true, nil
}

// iterOptions copies the bounds: Pebble keeps referring to them while the
// iterator lives, and callers may reuse their buffers.
func iterOptions(lower, upper []byte) *pebble.IterOptions {
	o := &pebble.IterOptions{}
	if lower != nil {
		o.LowerBound = append([]byte{}, lower...)
	}
	if upper != nil {
		o.UpperBound = append([]byte{}, upper...)
	}
	return o
}

// pebbleLogger sends Pebble's chatter to slog at debug level.
type pebbleLogger struct{}

func (pebbleLogger) Infof(format string, args ...any) {
	slog.Debug("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return (Pebble's contract); Pebble calls it when its
// commit pipeline is broken, after which nothing can be trusted.
func (pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	slog.Error("pebble fatal: " + msg)
	panic("pebble: " + msg)
}

// durableDirLevels bounds how many parent directories makeDurableDir syncs:
// the store's own, its parent (queue/) and the node's data directory.
const durableDirLevels = 3

// makeDurableDir creates dir and syncs the parents that record it. Pebble
// syncs the files inside its directory, not the directory's entry in its
// parent: without this a power loss right after a shard is created could
// take the whole store, while the Raft log behind it may be compacted.
func makeDurableDir(fs vfs.FS, dir string) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %q: %w", dir, err)
	}
	d := filepath.Clean(dir)
	for range durableDirLevels {
		parent := filepath.Dir(d)
		if parent == d || parent == "." {
			break // the root (wharfd passes absolute paths)
		}
		f, err := fs.OpenDir(parent)
		if err != nil {
			return fmt.Errorf("open %q to sync it: %w", parent, err)
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %q: %w", parent, err)
		}
		d = parent
	}
	return nil
}

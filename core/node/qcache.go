package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// queueCacheTTL bounds how long a queue record read from the metadata
// shard serves sends, receives, deletes and visibility changes without
// being read again. On a node with a replica of the metadata shard (every
// node of a 3-node cluster) a record is dropped sooner, as soon as that
// replica applies any metadata command (see queueCache.bump); on the others
// this TTL is the bound. It is the staleness bound of UpdateQueue's
// attributes documented in README.md.
const queueCacheTTL = time.Second

// queueCache holds queue records read from the metadata shard, so that the
// data-path requests (send, receive, delete, change visibility) need no
// linearizable metadata read (a ReadIndex round trip) each time.
//
// A cached record is at worst stale in these ways, and each is safe:
//   - its attributes changed (UpdateQueue): the command uses the old ones,
//     for at most queueCacheTTL, and on a node hosting a metadata replica
//     only until that replica applies the update;
//   - the queue was deleted, or deleted and created again under a new id:
//     DeleteQueue answers only after its partitions were dropped from their
//     queue shards (or the drop loop does it, when that fails), and a queue
//     shard refuses any command for a dropped partition (not_found) or one
//     of another queue (failed_precondition). withQueue then drops the
//     entry, reads the record again and runs the request once more;
//   - a receipt handle names a queue id other than the cached record's:
//     withQueue reads the record before deciding the handle is invalid.
//
// Dead-letter targets are not taken from the cache: a receive resolves its
// redrive policy's queue with a linearizable read, so that a message is
// never moved to (and dropped as bound for) a dead-letter queue deleted and
// created again.
type queueCache struct {
	// gen counts the metadata commands this node's metadata replica
	// applied (and its snapshot recoveries). An entry read at another
	// generation is stale.
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]queueCacheEntry
}

type queueCacheEntry struct {
	rec  *raftv1.QueueRecord
	gen  uint64
	read time.Time
}

// get returns the cached record of the queue, or nil when there is none
// fresh enough.
func (c *queueCache) get(name string) *raftv1.QueueRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok {
		return nil
	}
	if e.gen != c.gen.Load() || time.Since(e.read) >= queueCacheTTL {
		delete(c.m, name)
		return nil
	}
	return e.rec
}

// put caches rec, read with a linearizable read that began at generation
// gen and time read; nothing is cached when a metadata command was applied
// since gen (the read may predate it). rec must not be changed after.
func (c *queueCache) put(name string, rec *raftv1.QueueRecord, gen uint64, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen.Load() {
		return
	}
	if c.m == nil {
		c.m = make(map[string]queueCacheEntry)
	}
	c.m[name] = queueCacheEntry{rec: rec, gen: gen, read: read}
}

// forget drops the queue's entry.
func (c *queueCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}

// bump records that the local metadata replica applied a command: every
// entry is stale. Entries are dropped here, which also bounds the map by
// the queues used between two metadata commands.
func (c *queueCache) bump() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	clear(c.m)
}

// onMetaApplied is the metadata replica's hook: called after each applied
// entry and snapshot recovery.
func (n *Node) onMetaApplied() { n.qcache.bump() }

// cachedQueue is queue, from the cache when it holds the record; cached
// reports whether it did.
func (n *Node) cachedQueue(ctx context.Context, field, name string) (rec *raftv1.QueueRecord, cached bool, err error) {
	if rec := n.qcache.get(name); rec != nil {
		return rec, true, nil
	}
	rec, err = n.queue(ctx, field, name)
	return rec, false, err
}

// staleRecordError marks a whole command's refusal by a queue shard that a
// stale queue record explains: the partition was dropped (not_found) or
// belongs to another queue (failed_precondition). The command had no
// effect.
type staleRecordError struct{ err error }

func (e *staleRecordError) Error() string { return e.err.Error() }
func (e *staleRecordError) Unwrap() error { return e.err }

// commandError is statusError for the status of a whole queue command,
// marking the refusals a stale record explains.
func commandError(s *raftv1.Status) error {
	err := statusError(s)
	if err == nil {
		return nil
	}
	if c := core.CodeOf(err); c == core.NotFound || c == core.FailedPrecondition {
		return &staleRecordError{err: err}
	}
	return err
}

func isStaleRecord(err error) bool {
	var s *staleRecordError
	return errors.As(err, &s)
}

// withQueue runs op with the named queue's record, from the cache when it
// has one. When op fails because the record was stale (stale returns
// true), it runs op once more with the record read from the metadata
// shard. suspect, when not nil, says before running op that a cached
// record cannot be right for the request (a receipt handle of another
// queue id): the record is read again first.
func (n *Node) withQueue(ctx context.Context, name string, suspect func(*raftv1.QueueRecord) bool,
	op func(*raftv1.QueueRecord) (stale bool, err error)) error {
	rec, cached, err := n.cachedQueue(ctx, "queue", name)
	if err != nil {
		return err
	}
	if cached && suspect != nil && suspect(rec) {
		n.qcache.forget(name)
		if rec, err = n.queue(ctx, "queue", name); err != nil {
			return err
		}
		cached = false
	}
	stale, err := op(rec)
	if !cached || !stale {
		return notStale(err)
	}
	n.qcache.forget(name)
	n.log.Debug("cached queue record was stale; reading it again", "queue", name, "err", err)
	if rec, err = n.queue(ctx, "queue", name); err != nil {
		return err
	}
	_, err = op(rec)
	return notStale(err)
}

// allStale reports whether every entry failed, each because its command met
// a stale record: then nothing was done and the request may run again.
func allStale(results []entryResult) bool {
	if len(results) == 0 {
		return false
	}
	for _, r := range results {
		if r.err == nil || !isStaleRecord(r.err) {
			return false
		}
	}
	return true
}

// batchRetry is a batch's answer to withQueue: run again (with a fresh
// record) when every entry failed on a stale record, since then nothing was
// done; otherwise the batch's whole failure, if any, with the stale mark
// stripped (some entries may have taken effect).
func batchRetry(results []entryResult) (retry bool, err error) {
	err = wholeFailure(results)
	if err != nil && !allStale(results) {
		return false, notStale(err)
	}
	return err != nil, err
}

// notStale strips the staleRecordError mark: for a request that must not
// run again (some of its entries may have taken effect).
func notStale(err error) error {
	var s *staleRecordError
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

// handlesSuspect returns a withQueue suspect check for receipt handles: a
// handle naming a queue id other than the record's (a queue created again
// since the record was cached) calls for a fresh record before the handle
// is judged.
func handlesSuspect(handles ...string) func(*raftv1.QueueRecord) bool {
	return func(rec *raftv1.QueueRecord) bool {
		for _, h := range handles {
			if id, ok := handleQueueID(h); ok && id != rec.GetQueueId() {
				return true
			}
		}
		return false
	}
}

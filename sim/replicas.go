package sim

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/wharfmq/wharf/core/kv"
	"github.com/wharfmq/wharf/core/queue"
)

// Replica is what one node's store of one queue shard holds once the
// cluster is closed: its applied index, its digest (queue.Hash), the state
// machine's clock, and the client request ids it remembers as applied.
type Replica struct {
	Node, Shard  uint64
	AppliedIndex uint64
	ClockMs      int64
	Hash         [32]byte
	// Requests are the request ids of sends the replica applied and still
	// remembers (for linearizability.DedupWindowMs of its clock).
	Requests map[string]bool
	// Invariants is the error of queue.CheckInvariants, if any.
	Invariants error
}

// Replicas opens every node's queue shard stores and reads them. Call it
// after Close only: the stores must not be open in a node.
//
// It reads the request ids from the store's deduplication records, whose
// key layout ('d', partition, 'r', id) belongs to core/queue: core exposes
// no query for them, so a change there must be followed here.
func (c *Cluster) Replicas() ([]Replica, error) {
	var out []Replica
	for _, m := range c.nodes {
		root := filepath.Join(m.cfg.DataDir, "queue")
		names, err := m.disk.FS.List(root)
		if err != nil {
			continue // no queue shard on this node
		}
		sort.Strings(names)
		for _, name := range names {
			shardID, err := strconv.ParseUint(name, 10, 64)
			if err != nil {
				continue
			}
			r, err := readReplica(m, filepath.Join(root, name))
			if err != nil {
				return nil, fmt.Errorf("node %d shard %d: %w", m.id, shardID, err)
			}
			r.Node, r.Shard = m.id, shardID
			out = append(out, r)
		}
	}
	return out, nil
}

func readReplica(m *member, dir string) (r Replica, err error) {
	db, err := kv.Open(dir, kv.PebbleFS(m.disk.FS))
	if err != nil {
		return r, err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	st, err := queue.ShardState(db)
	if err != nil {
		return r, err
	}
	r.AppliedIndex, r.ClockMs = st.GetAppliedIndex(), st.GetClockMs()
	if r.Hash, err = queue.Hash(db); err != nil {
		return r, err
	}
	r.Invariants = queue.CheckInvariants(db)
	r.Requests, err = queue.RequestIDs(db)
	return r, err
}

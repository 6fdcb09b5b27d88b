package shard

import (
	"fmt"
	"io"
	"sort"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/meta"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// maxMetaSnapshot bounds the metadata snapshot a recovery will read: the
// state is one small record per queue and shard, far below this even at
// core.MaxQueues.
const maxMetaSnapshot = 1 << 30

// MetaPendingDropsQuery asks for up to Limit partitions of deleted queues
// still to be dropped from their queue shards, with partition ids above
// After, in partition id order: []*raftv1.Placement. Limit is capped at
// MaxPendingDropsQuery. (It sits here rather than in query.go with the other
// Meta* queries only to keep one change in one file.)
type MetaPendingDropsQuery struct {
	After uint64
	Limit int
}

// MaxPendingDropsQuery bounds the pending drops one lookup returns.
const MaxPendingDropsQuery = 1024

// MetaSM is the metadata shard's dragonboat state machine: core/meta in
// memory, snapshotted whole.
type MetaSM struct {
	// mu orders Update and Recover against Lookup: dragonboat runs Lookup
	// concurrently with them.
	mu    sync.RWMutex
	state *meta.State
	// applied is the index of the last entry Update applied: 0 after a
	// snapshot recovery until the next one (dragonboat does not tell a
	// recovery the snapshot's index; see MetaAppliedQuery).
	applied uint64
	// applyHook, when set, is called after every applied entry and
	// snapshot recovery, outside the lock (the node drops its cached
	// queue records).
	applyHook func()
}

var _ sm.IStateMachine = (*MetaSM)(nil)

// NewMetaSM returns a MetaSM with an empty state.
func NewMetaSM() *MetaSM {
	return &MetaSM{state: meta.New()}
}

// NewMetaSMWithHook is NewMetaSM with a function called after every applied
// entry and every snapshot recovery. It must be quick and must not call
// back into the state machine.
func NewMetaSMWithHook(applied func()) *MetaSM {
	return &MetaSM{state: meta.New(), applyHook: applied}
}

// Update applies one MetaCommand and returns the marshalled MetaResult. An
// entry that does not decode gets an invalid-argument result.
func (m *MetaSM) Update(e sm.Entry) (sm.Result, error) {
	cmd := &raftv1.MetaCommand{}
	var res *raftv1.MetaResult
	if err := proto.Unmarshal(e.Cmd, cmd); err != nil {
		res = &raftv1.MetaResult{Status: &raftv1.Status{
			Code:    raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
			Message: fmt.Sprintf("meta command does not decode: %v", err),
		}}
		m.mu.Lock()
		m.applied = e.Index
		m.mu.Unlock()
	} else {
		m.mu.Lock()
		res = m.state.Apply(cmd)
		m.applied = e.Index
		m.mu.Unlock()
	}
	if m.applyHook != nil {
		m.applyHook()
	}
	data, err := proto.Marshal(res)
	if err != nil {
		return sm.Result{}, fmt.Errorf("meta shard: marshal result of entry %d: %w", e.Index, err)
	}
	return sm.Result{Data: data}, nil
}

// Lookup answers the Meta* queries in query.go with copies the caller owns.
func (m *MetaSM) Lookup(q any) (any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch q := q.(type) {
	case MetaQueueQuery:
		rec := m.state.Queue(q.Name)
		if rec == nil {
			return (*raftv1.QueueRecord)(nil), nil
		}
		return proto.CloneOf(rec), nil
	case MetaListQuery:
		limit := min(max(q.Limit, 1), core.MaxListQueuesResults)
		names, more := m.state.List(q.Prefix, q.After, limit)
		return MetaListResult{Names: append([]string(nil), names...), More: more}, nil
	case MetaShardsQuery:
		if q.IncludeMeta {
			return cloneAll(m.state.AllShards()), nil
		}
		return cloneAll(m.state.Shards()), nil
	case MetaShardQuery:
		sh := m.state.Shard(q.ShardID)
		if sh == nil {
			return (*raftv1.ShardRecord)(nil), nil
		}
		return proto.CloneOf(sh), nil
	case MetaNodesQuery:
		return cloneAll(m.state.Nodes()), nil
	case MetaNodeQuery:
		n := m.state.Node(q.NodeID)
		if n == nil {
			return (*raftv1.NodeRecord)(nil), nil
		}
		return proto.CloneOf(n), nil
	case MetaPartitionsPerShardQuery:
		return m.state.PartitionsPerShard(), nil
	case MetaClusterQuery:
		// The state shares its records: the clone makes them the caller's.
		return proto.CloneOf(m.state.Cluster()), nil
	case MetaPendingDropsQuery:
		return pendingDrops(m.state.PendingDrops(), q), nil
	case MetaPrincipalsQuery:
		return &raftv1.MetaState{Principals: cloneAll(m.state.Principals())}, nil
	case MetaAppliedQuery:
		return m.applied, nil
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownQuery, q)
	}
}

// cloneAll deep-copies records, so the caller owns them.
func cloneAll[M proto.Message](recs []M) []M {
	out := make([]M, len(recs))
	for i, r := range recs {
		out[i] = proto.CloneOf(r)
	}
	return out
}

// pendingDrops answers q from the full pending list, which is in partition
// id order.
func pendingDrops(all []*raftv1.Placement, q MetaPendingDropsQuery) []*raftv1.Placement {
	limit := min(max(q.Limit, 1), MaxPendingDropsQuery)
	i := sort.Search(len(all), func(i int) bool { return all[i].GetPartitionId() > q.After })
	return cloneAll(all[i:min(len(all), i+limit)])
}

// SaveSnapshot writes the whole state.
func (m *MetaSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	m.mu.RLock()
	data, err := m.state.Marshal()
	m.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("meta shard: marshal snapshot: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return err // dragonboat's own streaming error; it checks it by identity
	}
	return nil
}

// RecoverFromSnapshot replaces the state with the snapshot in r.
func (m *MetaSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	data, err := io.ReadAll(io.LimitReader(r, maxMetaSnapshot+1))
	if err != nil {
		return fmt.Errorf("meta shard: read snapshot: %w", err)
	}
	if len(data) > maxMetaSnapshot {
		return fmt.Errorf("meta shard: snapshot larger than %d bytes", maxMetaSnapshot)
	}
	st := meta.New()
	if err := st.Unmarshal(data); err != nil {
		return fmt.Errorf("meta shard: decode snapshot: %w", err)
	}
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
	if m.applyHook != nil {
		m.applyHook()
	}
	return nil
}

// Close does nothing: the state lives in memory.
func (m *MetaSM) Close() error { return nil }

// MetaPartitionsPerShardQuery asks how many queue partitions each queue
// shard holds: a map[uint64]int the caller owns.
type MetaPartitionsPerShardQuery struct{}

// MetaPrincipalsQuery asks for every principal (secrets sealed) in name
// order: a *raftv1.MetaState holding only them, which the caller owns.
type MetaPrincipalsQuery struct{}

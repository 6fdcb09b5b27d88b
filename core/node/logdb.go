package node

import (
	"slices"
	"sync"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// stateKeepingFactory wraps a LogDB factory (tan's) so that the log is
// fsynced once per Raft update that needs it, not three times.
//
// dragonboat hands the LogDB an update's State only when it changed; an
// update that only applies committed entries or sends messages carries an
// empty State. tan compares the State it is given with the last one it
// stored to decide whether to write and fsync: an empty State differs in
// term and vote from any real one, so tan writes it, fsyncs, and remembers
// the empty State, and the next real State then differs in term and vote
// from that and is fsynced too. strace showed three fsyncs of a queue
// shard's log per replica per send (entries, an apply-only update, a
// commit-index update), where one is needed: term and vote must be durable
// before they are acted on, entries before they are acknowledged, and the
// commit index never (Raft recovers it).
//
// The wrapper fills an empty State in with the last State saved for that
// replica, which is what the replica's state still is. tan then sees no
// change and neither writes nor fsyncs such an update; a commit-only change
// is written without an fsync, as tan intends. Nothing else changes: the
// same entries, snapshots and states reach the log, in the same order.
type stateKeepingFactory struct {
	inner config.LogDBFactory
}

// Name is the wrapped factory's: dragonboat records it in the data
// directory and refuses to open data written under another name.
func (f stateKeepingFactory) Name() string { return f.inner.Name() }

func (f stateKeepingFactory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback,
	dirs []string, lldirs []string) (raftio.ILogDB, error) {
	db, err := f.inner.Create(cfg, cb, dirs, lldirs)
	if err != nil {
		return nil, err
	}
	return &stateKeepingLogDB{ILogDB: db, states: make(map[replicaKey]pb.State)}, nil
}

type replicaKey struct{ shardID, replicaID uint64 }

type stateKeepingLogDB struct {
	raftio.ILogDB
	mu sync.Mutex
	// states holds the last State saved for each replica since the LogDB
	// was opened. A replica not in it gets its updates passed on as they
	// come (tan's own behaviour) until its State next changes.
	states map[replicaKey]pb.State
}

func (l *stateKeepingLogDB) SaveRaftState(updates []pb.Update, shardID uint64) error {
	var filled []pb.Update // a copy: the caller's updates are not changed
	l.mu.Lock()
	for i := range updates {
		u := &updates[i]
		k := replicaKey{u.ShardID, u.ReplicaID}
		if !pb.IsEmptyState(u.State) {
			l.states[k] = u.State
			continue
		}
		st, ok := l.states[k]
		if !ok {
			continue
		}
		if filled == nil {
			filled = slices.Clone(updates)
		}
		filled[i].State = st
	}
	l.mu.Unlock()
	if filled != nil {
		updates = filled
	}
	return l.ILogDB.SaveRaftState(updates, shardID)
}

// forget drops what is known of a replica whose stored state is replaced
// or deleted other than through SaveRaftState.
func (l *stateKeepingLogDB) forget(shardID, replicaID uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.states, replicaKey{shardID, replicaID})
}

func (l *stateKeepingLogDB) RemoveNodeData(shardID uint64, replicaID uint64) error {
	l.forget(shardID, replicaID)
	return l.ILogDB.RemoveNodeData(shardID, replicaID)
}

func (l *stateKeepingLogDB) ImportSnapshot(snapshot pb.Snapshot, replicaID uint64) error {
	l.forget(snapshot.ShardID, replicaID)
	return l.ILogDB.ImportSnapshot(snapshot, replicaID)
}

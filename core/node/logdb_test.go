package node

import (
	"testing"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// recordingLogDB records the updates it is asked to save.
type recordingLogDB struct {
	raftio.ILogDB
	saved []pb.Update
}

func (r *recordingLogDB) SaveRaftState(updates []pb.Update, _ uint64) error {
	r.saved = append(r.saved, updates...)
	return nil
}

func (r *recordingLogDB) RemoveNodeData(uint64, uint64) error { return nil }

func TestStateKeepingLogDBFillsEmptyStates(t *testing.T) {
	rec := &recordingLogDB{}
	l := &stateKeepingLogDB{ILogDB: rec, states: map[replicaKey]pb.State{}}
	st := pb.State{Term: 3, Vote: 2, Commit: 10}
	// A replica whose State is not known yet: passed on as it comes.
	first := []pb.Update{{ShardID: 2, ReplicaID: 1000}}
	if err := l.SaveRaftState(first, 2); err != nil {
		t.Fatal(err)
	}
	in := []pb.Update{
		{ShardID: 2, ReplicaID: 1000, State: st, EntriesToSave: []pb.Entry{{Index: 10, Term: 3}}},
		{ShardID: 2, ReplicaID: 1000}, // apply-only: empty State
		{ShardID: 3, ReplicaID: 1003}, // another replica, unknown
		{ShardID: 2, ReplicaID: 1000, State: pb.State{Term: 3, Vote: 2, Commit: 11}}, // commit moved
		{ShardID: 2, ReplicaID: 1000},
	}
	if err := l.SaveRaftState(in, 2); err != nil {
		t.Fatal(err)
	}
	if !pb.IsEmptyState(in[1].State) || !pb.IsEmptyState(in[4].State) {
		t.Fatal("the caller's updates were changed")
	}
	got := rec.saved[1:]
	if !pb.IsEmptyState(rec.saved[0].State) {
		t.Errorf("unknown replica's update got State %v", rec.saved[0].State)
	}
	if got[1].State != st {
		t.Errorf("apply-only update saved with State %v, want %v", got[1].State, st)
	}
	if !pb.IsEmptyState(got[2].State) {
		t.Errorf("other replica's update got State %v", got[2].State)
	}
	if want := (pb.State{Term: 3, Vote: 2, Commit: 11}); got[4].State != want {
		t.Errorf("update after a commit change saved with State %v, want %v", got[4].State, want)
	}
	// Once its data is removed, a replica's State is unknown again.
	if err := l.RemoveNodeData(2, 1000); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveRaftState([]pb.Update{{ShardID: 2, ReplicaID: 1000}}, 2); err != nil {
		t.Fatal(err)
	}
	if last := rec.saved[len(rec.saved)-1]; !pb.IsEmptyState(last.State) {
		t.Errorf("after RemoveNodeData: State %v", last.State)
	}
}

package logrepair

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/lni/vfs"
)

const (
	testShard   = 2
	testReplica = 1000
)

// openTan opens the tan LogDB Wharf uses, in dir, on fs.
func openTan(t *testing.T, fs vfs.FS, dir string) raftio.ILogDB {
	t.Helper()
	cfg := config.NodeHostConfig{Expert: config.ExpertConfig{FS: fs, LogDB: config.GetTinyMemLogDBConfig()}}
	db, err := tan.Factory.Create(cfg, func(config.LogDBInfo) {}, []string{dir}, []string{dir})
	if err != nil {
		t.Fatalf("open tan in %s: %v", dir, err)
	}
	return db
}

// writeLog saves n updates, each one entry and a new commit index, as a
// replica's Raft log does, and closes the LogDB cleanly (tan then writes
// the index file of its log).
func writeLog(t *testing.T, fs vfs.FS, dir string, n int) {
	t.Helper()
	db := openTan(t, fs, dir)
	for i := 1; i <= n; i++ {
		u := pb.Update{
			ShardID: testShard, ReplicaID: testReplica,
			State:         pb.State{Term: 1, Vote: 1, Commit: uint64(i)},
			EntriesToSave: []pb.Entry{{Term: 1, Index: uint64(i), Cmd: []byte(fmt.Sprintf("message %04d", i))}},
		}
		if err := db.SaveRaftState([]pb.Update{u}, 1); err != nil {
			t.Fatalf("save update %d: %v", i, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close tan: %v", err)
	}
}

// readLog opens tan and returns the replica's commit index and the indexes
// of its entries.
func readLog(t *testing.T, fs vfs.FS, dir string) (uint64, []uint64, error) {
	t.Helper()
	db := openTan(t, fs, dir)
	defer db.Close()
	st, err := db.ReadRaftState(testShard, testReplica, 0)
	if err != nil {
		return 0, nil, err
	}
	ents, _, err := db.IterateEntries(nil, 0, testShard, testReplica, st.FirstIndex, st.FirstIndex+st.EntryCount, 1<<30)
	if err != nil {
		return 0, nil, err
	}
	var idx []uint64
	for _, e := range ents {
		idx = append(idx, e.Index)
	}
	return st.State.Commit, idx, nil
}

// newestLog returns the path of the replica's newest non-empty log file.
func newestLog(t *testing.T, fs vfs.FS, dir string) string {
	t.Helper()
	db := fs.PathJoin(dir, tanDirName, fmt.Sprintf("node-%d-%d", testShard, testReplica))
	names, err := fs.List(db)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	slices.Reverse(names)
	for _, name := range names {
		if _, ok := fileNum(name, ".log"); !ok {
			continue
		}
		if fi, err := fs.Stat(fs.PathJoin(db, name)); err == nil && fi.Size() > 0 {
			return fs.PathJoin(db, name)
		}
	}
	t.Fatalf("no log in %s: %v", db, names)
	return ""
}

func cutTail(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// TestRepairTornTailOfRealTanLog writes a real tan log, closes it cleanly,
// cuts 7 bytes off its end (what a power loss after the stop can leave:
// tan does not fsync a log it closes), and checks that tan cannot read the
// replica's state until RepairTornTails cuts the torn record, after which
// every entry but the torn update's is there.
func TestRepairTornTailOfRealTanLog(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 300)
	log := newestLog(t, fs, dir)
	index := strings.TrimSuffix(log, ".log") + ".index"
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("tan wrote no index for %s at a clean close: %v", log, err)
	}
	before, _ := os.Stat(log)
	cutTail(t, log, 7)
	// On a copy: tan's open leaves a newer empty log behind.
	unrepaired := t.TempDir()
	if err := os.CopyFS(unrepaired, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readLog(t, fs, unrepaired); err == nil {
		t.Fatal("tan read a log with a torn tail without error: the test cuts nothing")
	}

	repairs, err := RepairTornTails(fs, dir)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if len(repairs) != 1 {
		t.Fatalf("repairs = %+v, want one", repairs)
	}
	r := repairs[0]
	if r.File != log || r.To != before.Size()-7 || r.From >= r.To || r.IndexRemoved != index {
		t.Fatalf("repair = %+v, want %s cut below %d and %s removed", r, log, before.Size()-7, index)
	}
	after, _ := os.Stat(log)
	if after.Size() != r.From {
		t.Fatalf("%s is %d bytes after the repair, want %d", log, after.Size(), r.From)
	}

	commit, idx, err := readLog(t, fs, dir)
	if err != nil {
		t.Fatalf("tan after the repair: %v", err)
	}
	if commit != 299 || len(idx) != 299 || idx[0] != 1 || idx[298] != 299 {
		t.Fatalf("after the repair: commit %d, %d entries (%v...), want the first 299 updates", commit, len(idx), idx[:min(3, len(idx))])
	}

	// The repaired log is clean: a second pass changes nothing.
	if repairs, err := RepairTornTails(fs, dir); err != nil || len(repairs) != 0 {
		t.Fatalf("second repair: %+v, %v", repairs, err)
	}
}

// TestRepairIndexOfLogLostAtRecordBoundary: the log lost its last record
// whole (a tail lost at a record boundary scans clean), but its index still
// names it; the index is removed and tan rebuilds it from the log.
func TestRepairIndexOfLogLostAtRecordBoundary(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 300)
	log := newestLog(t, fs, dir)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := scanBytes(t, b[:len(b)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, tail.GoodEnd); err != nil { // the last record, gone whole
		t.Fatal(err)
	}
	repairs, err := RepairTornTails(fs, dir)
	if err != nil || len(repairs) != 1 || repairs[0].Cut() || repairs[0].IndexRemoved == "" {
		t.Fatalf("repair: %+v, %v; want the index removed and nothing cut", repairs, err)
	}
	commit, idx, err := readLog(t, fs, dir)
	if err != nil || commit != 299 || len(idx) != 299 {
		t.Fatalf("after the repair: commit %d, %d entries, %v; want 299 of each", commit, len(idx), err)
	}
}

// TestRepairKeepsIndexNamingOnlyWholeRecords: garbage after the last
// record is cut; the index, which names only whole records, stays.
func TestRepairKeepsIndexNamingOnlyWholeRecords(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 100)
	log := newestLog(t, fs, dir)
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x01\x02\x03\x04 not a record \xff\xfe"))
	f.Close()
	repairs, err := RepairTornTails(fs, dir)
	if err != nil || len(repairs) != 1 || !repairs[0].Cut() || repairs[0].IndexRemoved != "" {
		t.Fatalf("repair: %+v, %v; want the garbage cut and the index kept", repairs, err)
	}
	commit, idx, err := readLog(t, fs, dir)
	if err != nil || commit != 100 || len(idx) != 100 {
		t.Fatalf("after the repair: commit %d, %d entries, %v; want 100 of each", commit, len(idx), err)
	}
}

// TestRepairRemovesUnreadableIndex: a torn index of the newest log is
// removed, and tan rebuilds it from the whole log.
func TestRepairRemovesUnreadableIndex(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 100)
	index := strings.TrimSuffix(newestLog(t, fs, dir), ".log") + ".index"
	cutTail(t, index, 3)
	repairs, err := RepairTornTails(fs, dir)
	if err != nil || len(repairs) != 1 || repairs[0].Cut() || repairs[0].IndexRemoved != index {
		t.Fatalf("repair: %+v, %v; want %s removed", repairs, err, index)
	}
	commit, idx, err := readLog(t, fs, dir)
	if err != nil || commit != 100 || len(idx) != 100 {
		t.Fatalf("after the repair: commit %d, %d entries, %v; want 100 of each", commit, len(idx), err)
	}
}

// TestRepairOnFileSystemWithoutTruncate runs the repair on the in-memory
// file system the simulator uses, whose files cannot be truncated: the kept
// prefix is rewritten and renamed over the log.
func TestRepairOnFileSystemWithoutTruncate(t *testing.T) {
	fs := vfs.NewMem()
	dir := "/data"
	writeLog(t, fs, dir, 50)
	log := newestLog(t, fs, dir)
	f, err := fs.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w, err := fs.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(append(b[:len(b)-5], 0xde, 0xad, 0xbe, 0xef)); err != nil { // torn, then garbage
		t.Fatal(err)
	}
	w.Close()

	repairs, err := RepairTornTails(fs, dir)
	if err != nil || len(repairs) != 1 {
		t.Fatalf("repair: %+v, %v", repairs, err)
	}
	commit, idx, err := readLog(t, fs, dir)
	if err != nil || commit != 49 || len(idx) != 49 {
		t.Fatalf("after the repair: commit %d, %d entries, %v; want 49 of each", commit, len(idx), err)
	}
}

// TestRepairRefusesCorruptLog flips a bit in an early record: the log is
// left as it is and the error names the file.
func TestRepairRefusesCorruptLog(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 100)
	log := newestLog(t, fs, dir)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	b[200] ^= 0x10
	if err := os.WriteFile(log, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = RepairTornTails(fs, dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), log) {
		t.Fatalf("repair of a corrupt log: %v; want ErrCorrupt naming %s", err, log)
	}
	after, _ := os.ReadFile(log)
	if len(after) != len(b) {
		t.Fatalf("a corrupt log was cut from %d to %d bytes", len(b), len(after))
	}
	if _, err := os.Stat(strings.TrimSuffix(log, ".log") + ".index"); err != nil {
		t.Fatalf("the index of a corrupt log was touched: %v", err)
	}
}

// TestRepairRefusesWhenNewerLogExists: tan opened the database again
// after writing the torn log, and left a newer empty log; it would not
// rebuild the torn log's index, so the repair is refused.
func TestRepairRefusesWhenNewerLogExists(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	writeLog(t, fs, dir, 20)
	log := newestLog(t, fs, dir)
	if _, _, err := readLog(t, fs, dir); err != nil { // opens the replica's db: a newer log
		t.Fatal(err)
	}
	cutTail(t, log, 7)
	_, err := RepairTornTails(fs, dir)
	if !errors.Is(err, ErrNotRepairable) || !strings.Contains(err.Error(), log) {
		t.Fatalf("repair: %v; want a refusal naming %s", err, log)
	}
}

func TestRepairWithoutRaftData(t *testing.T) {
	if r, err := RepairTornTails(vfs.Default, filepath.Join(t.TempDir(), "missing")); err != nil || len(r) != 0 {
		t.Fatalf("repair of a missing directory: %+v, %v", r, err)
	}
}

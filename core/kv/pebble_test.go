package kv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

func openMem(t *testing.T) (*DB, vfs.FS) {
	t.Helper()
	fs := vfs.NewMem()
	db, err := Open("db", fs)
	if err != nil {
		t.Fatal(err)
	}
	return db, fs
}

func mustGet(t *testing.T, r Reader, key string) (string, bool) {
	t.Helper()
	v, ok, err := r.Get([]byte(key))
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v), ok
}

func keys(t *testing.T, r Reader, lower, upper []byte) []string {
	t.Helper()
	it, err := r.Iter(lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTxnReadsOwnWritesAndIsInvisibleUntilCommit(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()

	tx := db.NewTxn()
	if err := tx.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, tx, "a"); !ok || v != "1" {
		t.Fatalf("txn get = %q %v", v, ok)
	}
	if _, ok := mustGet(t, db, "a"); ok {
		t.Fatal("uncommitted write visible in db")
	}
	if err := tx.Commit(false); err != nil {
		t.Fatal(err)
	}
	tx.Close() // harmless after commit
	if v, ok := mustGet(t, db, "a"); !ok || v != "1" {
		t.Fatalf("db get after commit = %q %v", v, ok)
	}
}

func TestTxnCloseDiscards(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	_ = tx.Set([]byte("a"), []byte("1"))
	tx.Close()
	if _, ok := mustGet(t, db, "a"); ok {
		t.Fatal("closed txn's write visible")
	}
	if err := tx.Commit(false); err == nil {
		t.Fatal("commit after close succeeded")
	}
}

func TestGetCopiesValue(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	_ = tx.Set([]byte("k"), []byte("value"))
	v, _, _ := tx.Get([]byte("k"))
	v[0] = 'X'
	if got, _ := mustGet(t, tx, "k"); got != "value" {
		t.Fatalf("mutating a returned value changed the txn: %q", got)
	}
	_ = tx.Commit(false)
}

func TestEmptyValueIsFound(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	_ = tx.Set([]byte("k"), nil)
	if err := tx.Commit(true); err != nil {
		t.Fatal(err)
	}
	v, ok := mustGet(t, db, "k")
	if !ok || v != "" {
		t.Fatalf("get = %q %v, want empty and found", v, ok)
	}
}

func TestIterBoundsAndTxnView(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	for _, k := range []string{"a1", "a2", "b1", "b2", "c1"} {
		_ = tx.Set([]byte(k), []byte("v"+k))
	}
	_ = tx.Commit(false)

	tx = db.NewTxn()
	defer tx.Close()
	_ = tx.Delete([]byte("b1"))
	_ = tx.Set([]byte("b3"), []byte("vb3"))
	got := fmt.Sprint(keys(t, tx, []byte("b"), []byte("c")))
	if got != "[b2=vb2 b3=vb3]" {
		t.Fatalf("txn iter = %s", got)
	}
	got = fmt.Sprint(keys(t, tx, []byte("b2"), nil))
	if got != "[b2=vb2 b3=vb3 c1=vc1]" {
		t.Fatalf("txn iter without upper = %s", got)
	}
	got = fmt.Sprint(keys(t, db, nil, []byte("b")))
	if got != "[a1=va1 a2=va2]" {
		t.Fatalf("db iter = %s", got)
	}
}

func TestIterBoundsAreCopied(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	_ = tx.Set([]byte("a"), nil)
	_ = tx.Set([]byte("b"), nil)
	_ = tx.Set([]byte("c"), nil)
	_ = tx.Commit(false)
	lower, upper := []byte("a"), []byte("b")
	it, _ := db.Iter(lower, upper)
	defer it.Close()
	upper[0] = 'z' // the caller reuses its buffer
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if n != 1 {
		t.Fatalf("iterated %d keys, want 1", n)
	}
}

func TestDeleteRangeInTxn(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	for i := 0; i < 100; i++ {
		_ = tx.Set([]byte(fmt.Sprintf("m%03d", i)), []byte("x"))
	}
	_ = tx.Set([]byte("n"), []byte("keep"))
	_ = tx.Commit(false)

	tx = db.NewTxn()
	if err := tx.DeleteRange([]byte("m"), []byte("n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, tx, "m050"); ok {
		t.Fatal("txn Get sees a key its own DeleteRange removed")
	}
	if got := keys(t, tx, nil, nil); fmt.Sprint(got) != "[n=keep]" {
		t.Fatalf("txn iter after DeleteRange = %v", got)
	}
	// A write after the range deletion survives it.
	_ = tx.Set([]byte("m007"), []byte("new"))
	if v, ok := mustGet(t, tx, "m007"); !ok || v != "new" {
		t.Fatalf("set after DeleteRange = %q %v", v, ok)
	}
	_ = tx.Commit(false)
	if got := keys(t, db, nil, nil); fmt.Sprint(got) != "[m007=new n=keep]" {
		t.Fatalf("db after DeleteRange = %v", got)
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	db, _ := openMem(t)
	defer db.Close()
	tx := db.NewTxn()
	_ = tx.Set([]byte("a"), []byte("1"))
	_ = tx.Commit(false)

	snap := db.NewSnapshot()
	tx = db.NewTxn()
	_ = tx.Set([]byte("a"), []byte("2"))
	_ = tx.Set([]byte("b"), []byte("2"))
	_ = tx.Commit(false)

	if v, _ := mustGet(t, snap, "a"); v != "1" {
		t.Fatalf("snapshot sees %q", v)
	}
	if got := keys(t, snap, nil, nil); fmt.Sprint(got) != "[a=1]" {
		t.Fatalf("snapshot iter = %v", got)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if v, _ := mustGet(t, db, "a"); v != "2" {
		t.Fatalf("db sees %q", v)
	}
}

func TestBatchAndReopen(t *testing.T) {
	db, fs := openMem(t)
	b := db.NewBatch()
	for i := 0; i < 10; i++ {
		_ = b.Set([]byte{byte('a' + i)}, bytes.Repeat([]byte{'v'}, i))
	}
	if b.Len() == 0 {
		t.Fatal("batch Len is 0 after writes")
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open("db", fs)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := len(keys(t, db, nil, nil)); got != 10 {
		t.Fatalf("%d keys after reopen, want 10", got)
	}
	if v, _ := mustGet(t, db, "j"); v != "vvvvvvvvv" {
		t.Fatalf("j = %q", v)
	}
}

func TestStoreSurvivesPowerLossRightAfterCreation(t *testing.T) {
	fs := vfs.NewStrictMem()
	db, err := Open("/data/queue/2", fs)
	if err != nil {
		t.Fatal(err)
	}
	tx := db.NewTxn()
	if err := tx.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(true); err != nil {
		t.Fatal(err)
	}
	// Power loss: everything not synced is gone.
	fs.SetIgnoreSyncs(true)
	db.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	db, err = Open("/data/queue/2", fs)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, found, err := db.Get([]byte("k")); err != nil || !found || string(v) != "v" {
		t.Fatalf("after power loss: %q %v %v", v, found, err)
	}
}

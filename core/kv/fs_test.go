package kv

import (
	"testing"

	lnivfs "github.com/lni/vfs"
)

// A store on an lni in-memory file system keeps what was synced across a
// simulated crash, through the adapter.
func TestPebbleFSSurvivesCrash(t *testing.T) {
	mem := lnivfs.NewStrictMem()
	// Pebble syncs its directory but not the directory's entry in the
	// parent, which a strict in-memory file system then loses: create it
	// durably first, as the parent's owner would.
	if err := mem.MkdirAll("/db", 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := mem.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sync(); err != nil {
		t.Fatal(err)
	}
	root.Close()
	db, err := Open("/db", PebbleFS(mem))
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
	mem.SetIgnoreSyncs(true)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	mem.ResetToSyncedState()
	mem.SetIgnoreSyncs(false)
	db, err = Open("/db", PebbleFS(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, ok, err := db.Get([]byte("k"))
	if err != nil || !ok || string(v) != "v" {
		t.Fatalf("after crash: %q %v %v", v, ok, err)
	}
}

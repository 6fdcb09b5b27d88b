package node

import (
	"os"
	"path/filepath"
	"testing"
)

// A replica started with no Raft state must not open a store an earlier
// replica of its shard left on this node: dropShardStore removes it, and
// leaves the other shards' stores alone.
func TestDropShardStore(t *testing.T) {
	n := startNode(t, nil)
	left := n.queueShardDir(901)
	other := n.queueShardDir(902)
	for _, dir := range []string{left, other} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "MANIFEST-000001"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.dropShardStore(901); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("store of shard 901 still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "MANIFEST-000001")); err != nil {
		t.Fatalf("store of shard 902 touched: %v", err)
	}
	if err := n.dropShardStore(901); err != nil {
		t.Fatalf("dropping a missing store: %v", err)
	}
}

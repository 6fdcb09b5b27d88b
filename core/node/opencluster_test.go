package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A member of a cluster of several nodes restarted without node-to-node
// authentication (wharfd sets RefuseOpenCluster) refuses to start instead
// of waiting for peers that refuse it; a single node's data starts.
func TestRefuseOpenClusterMember(t *testing.T) {
	tn := startNode(t, func(c *Config) { c.RefuseOpenCluster = true })
	tn.restart() // a single node: one peer in its file, starts again
	if err := tn.Close(); err != nil {
		t.Fatal(err)
	}
	tn.Node = nil

	// The same data, as if the node had learned of a second member.
	peers := `[{"node_id":1,"raft_addr":"` + tn.addr + `"},{"node_id":2,"raft_addr":"127.0.0.1:1"}]`
	if err := os.WriteFile(filepath.Join(tn.dir, peersFile), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: 1, DataDir: tn.dir, RaftAddr: tn.addr, QueueShards: 2, Logger: testLogger(), RefuseOpenCluster: true}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(c, cfg)
	if !errors.Is(err, ErrOpenCluster) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("Start: %v, want ErrOpenCluster", err)
	}

	cfg.RefuseOpenCluster = false // --insecure, or peer authentication on
	n, err = Start(c, cfg)
	if err != nil {
		t.Fatalf("Start without RefuseOpenCluster: %v", err)
	}
	n.Close()
}

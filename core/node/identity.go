package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/lni/vfs"
)

// identityFile records which node a data directory belongs to, so that a
// restart needs no flags: the node id comes from the directory, and a
// mismatch with the flags is caught before anything runs.
const identityFile = "node.json"

type identity struct {
	NodeID   uint64 `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
}

// resolveIdentity settles cfg.NodeID: the saved one for an existing data
// directory; for a new node the configured one, 1 for a new single node, or
// 0 for a joining node, whose id the cluster assigns (see join).
func (n *Node) resolveIdentity() error {
	saved, err := readIdentity(n.cfg.FS, n.cfg.DataDir)
	if err != nil {
		return err
	}
	if saved != nil {
		if n.cfg.NodeID != 0 && n.cfg.NodeID != saved.NodeID {
			return fmt.Errorf("data directory %s belongs to node %d, not %d", n.cfg.DataDir, saved.NodeID, n.cfg.NodeID)
		}
		n.cfg.NodeID = saved.NodeID
		return nil
	}
	if n.cfg.NodeID == 0 {
		switch {
		case n.cfg.Join != "":
		case len(n.cfg.InitialMembers) > 0:
			return errors.New("a node starting a new cluster of several nodes needs its node id")
		default:
			n.cfg.NodeID = 1
		}
	}
	return nil
}

func readIdentity(fs vfs.FS, dir string) (*identity, error) {
	b, ok, err := readFile(fs, filepath.Join(dir, identityFile))
	if err != nil || !ok {
		return nil, err
	}
	id := &identity{}
	if err := json.Unmarshal(b, id); err != nil || id.NodeID == 0 {
		return nil, fmt.Errorf("%s in %s is damaged: %v", identityFile, dir, err)
	}
	return id, nil
}

// saveIdentity writes the identity file once, atomically.
func (n *Node) saveIdentity() error {
	path := filepath.Join(n.cfg.DataDir, identityFile)
	if exists(n.cfg.FS, path) {
		return nil
	}
	b, err := json.Marshal(identity{NodeID: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr})
	if err != nil {
		return err
	}
	return writeFileAtomic(n.cfg.FS, path, b)
}

package jepsen

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/wharfmq/wharf/transport/peerlink/testcerts"
)

// How the nodes authenticate each other on their peer ports (Options.PeerAuth).
const (
	PeerTLS  = "tls"  // mutual TLS: a CA of the run signs each node's certificate
	PeerKey  = "key"  // a cluster key shared by every node
	PeerNone = "none" // wharfd --insecure
)

// peerCreds is the run's CA or cluster key, made on first use under the
// cluster's directory.
type peerCreds struct {
	mu      sync.Mutex
	ca      *testcerts.CA
	keyFile string
	files   map[int]testcerts.Files // node id to its certificate files
}

// peerArgs returns the wharfd flags that authenticate node n to the others.
func (c *Cluster) peerArgs(n *Node) ([]string, error) {
	p := &c.peer
	p.mu.Lock()
	defer p.mu.Unlock()
	switch c.PeerAuth {
	case PeerTLS:
		if p.ca == nil {
			ca, err := testcerts.NewCA("wharf jepsen peer CA")
			if err != nil {
				return nil, err
			}
			p.ca, p.files = ca, map[int]testcerts.Files{}
		}
		f, ok := p.files[n.ID]
		if !ok {
			var err error
			if f, err = p.ca.WriteFiles(c.Dir, fmt.Sprintf("n%d", n.ID)); err != nil {
				return nil, err
			}
			p.files[n.ID] = f
		}
		return f.Args(), nil
	case PeerKey:
		path, err := c.clusterKeyLocked()
		if err != nil {
			return nil, err
		}
		return []string{"--cluster-key-file", path}, nil
	default:
		return []string{"--insecure"}, nil
	}
}

// clusterKeyFile returns the run's cluster key file, made on first use:
// the peer key (PeerKey) and the sealing key of access keys (EnableAuth)
// are one key, as on a real cluster.
func (c *Cluster) clusterKeyFile() (string, error) {
	c.peer.mu.Lock()
	defer c.peer.mu.Unlock()
	return c.clusterKeyLocked()
}

func (c *Cluster) clusterKeyLocked() (string, error) {
	p := &c.peer
	if p.keyFile != "" {
		return p.keyFile, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	path := filepath.Join(c.Dir, "cluster.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	p.keyFile = path
	return path, nil
}

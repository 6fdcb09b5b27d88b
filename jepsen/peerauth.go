package jepsen

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/wharfmq/wharf/transport/certgen"
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
	keyFile string
	files   map[int][]string // node id to its --peer-* flags
}

// peerArgs returns the wharfd flags that authenticate node n to the others.
func (c *Cluster) peerArgs(n *Node) ([]string, error) {
	p := &c.peer
	p.mu.Lock()
	defer p.mu.Unlock()
	switch c.PeerAuth {
	case PeerTLS:
		// One CA for the run (certs/, shared with EnableTLS); a
		// certificate per node id, made when the node first starts.
		f, ok := p.files[n.ID]
		if !ok {
			made, err := certgen.MakeDir(certgen.Request{Dir: filepath.Join(c.Dir, "certs"),
				Nodes: []string{fmt.Sprintf("n%d", n.ID)}, Hosts: []string{"127.0.0.1"}})
			if err != nil {
				return nil, err
			}
			nf := made.Nodes[0]
			f = []string{"--peer-ca", made.CACert, "--peer-cert", nf.Cert, "--peer-key", nf.Key}
			if p.files == nil {
				p.files = map[int][]string{}
			}
			p.files[n.ID] = f
		}
		return f, nil
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

package certgen

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// The files of a certificate directory (MakeDir).
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ClusterKeyFile = "cluster.key"
)

// NodeCertFile and NodeKeyFile name node name's files in a directory.
func NodeCertFile(name string) string { return name + ".crt" }
func NodeKeyFile(name string) string  { return name + ".key" }

// DefaultHosts are the names a local cluster's nodes are reached by.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// nodeName is what a node name may be: it becomes a file name.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Request says what MakeDir makes.
type Request struct {
	// Dir is the directory the files go to (created if missing, 0700).
	Dir string
	// Nodes are the node names to issue certificates for ("node1"): each
	// gets NAME.crt and NAME.key.
	Nodes []string
	// Hosts are the DNS names and IP addresses every node certificate is
	// valid for; empty means DefaultHosts.
	Hosts []string
	// Force makes a new CA even if the directory holds one. Without it an
	// existing CA is kept and signs the new node certificates.
	Force bool
	// Now is the issue time; zero means time.Now().
	Now time.Time
	// NodeValidity is how long node certificates are valid; zero means
	// NodeValidity.
	NodeValidity time.Duration
}

// Made lists what MakeDir wrote (paths include Request.Dir).
type Made struct {
	CACert, CAKey string
	// NewCA says the CA was created now (else an existing one was used).
	NewCA bool
	Nodes []NodeFiles
	// ClusterKey is the cluster key file; NewClusterKey says it was
	// created now.
	ClusterKey    string
	NewClusterKey bool
}

// NodeFiles are one node's certificate and key.
type NodeFiles struct{ Name, Cert, Key string }

// MakeDir makes a certificate directory: a CA (ca.crt, ca.key) unless one
// is there already (Force replaces it), a certificate and key per node
// (NAME.crt, NAME.key), and the cluster key (cluster.key: 64 hex digits
// from crypto/rand) unless one is there already. Keys are written 0600,
// certificates 0644, each file atomically (a crash leaves the old file or
// the new one, never half of one).
//
// The cluster key is never replaced, even with Force: it encrypts the
// access-key secrets a cluster stores, and a new one would make them
// unreadable. Delete the file to have a new one made.
func MakeDir(req Request) (*Made, error) {
	if req.Dir == "" {
		return nil, errors.New("certificate directory: empty path")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	validity := req.NodeValidity
	if validity == 0 {
		validity = NodeValidity
	}
	hosts := req.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	if _, _, err := ParseHosts(hosts); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range req.Nodes {
		if err := checkNodeName(n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("node name %q given twice", n)
		}
		seen[n] = true
	}
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}

	m := &Made{
		CACert:     filepath.Join(req.Dir, CACertFile),
		CAKey:      filepath.Join(req.Dir, CAKeyFile),
		ClusterKey: filepath.Join(req.Dir, ClusterKeyFile),
	}
	ca, err := authority(m, req.Force, now)
	if err != nil {
		return nil, err
	}
	for _, n := range req.Nodes {
		certPEM, keyPEM, err := ca.Issue(n, hosts, now, validity)
		if err != nil {
			return nil, err
		}
		f := NodeFiles{Name: n, Cert: filepath.Join(req.Dir, NodeCertFile(n)), Key: filepath.Join(req.Dir, NodeKeyFile(n))}
		// The key first: a certificate on disk never names a key that
		// is not there yet.
		if err := WriteFile(f.Key, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := WriteFile(f.Cert, certPEM, 0o644); err != nil {
			return nil, err
		}
		m.Nodes = append(m.Nodes, f)
	}
	switch _, err := os.Stat(m.ClusterKey); {
	case errors.Is(err, fs.ErrNotExist):
		key, err := NewClusterKey()
		if err != nil {
			return nil, err
		}
		if err := WriteFile(m.ClusterKey, []byte(key+"\n"), 0o600); err != nil {
			return nil, err
		}
		m.NewClusterKey = true
	case err != nil:
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	return m, nil
}

// authority returns the directory's CA: the existing one, or a new one
// when there is none or force is set. A directory holding only half of a
// CA (certificate without key, or the reverse) is refused without force:
// making a new CA there would overwrite the half that is left, which may
// be the only copy of a certificate other nodes trust.
func authority(m *Made, force bool, now time.Time) (*Authority, error) {
	certThere, err := exists(m.CACert)
	if err != nil {
		return nil, err
	}
	keyThere, err := exists(m.CAKey)
	if err != nil {
		return nil, err
	}
	switch {
	case force || !certThere && !keyThere:
	case certThere && keyThere:
		ca, err := LoadAuthority(m.CACert, m.CAKey)
		if err != nil {
			return nil, fmt.Errorf("existing CA: %w (--force makes a new one)", err)
		}
		return ca, nil
	case certThere:
		return nil, fmt.Errorf("refusing to overwrite %s: its key %s is missing (--force makes a new CA)", m.CACert, m.CAKey)
	default:
		return nil, fmt.Errorf("refusing to overwrite %s: its certificate %s is missing (--force makes a new CA)", m.CAKey, m.CACert)
	}
	ca, err := NewAuthority("Wharf cluster CA", now, CAValidity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := WriteFile(m.CAKey, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFile(m.CACert, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	m.NewCA = true
	return ca, nil
}

func checkNodeName(n string) error {
	if !nodeName.MatchString(n) {
		return fmt.Errorf("node name %q: want letters, digits, '.', '_' or '-' (it names the files NAME.crt and NAME.key), at most 63 characters", n)
	}
	if n == "ca" || n == "cluster" {
		return fmt.Errorf("node name %q: taken by %s.crt/%s.key", n, n, n)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// NewClusterKey returns a new cluster key: 32 bytes from crypto/rand as
// 64 hex digits, the format wharfd --cluster-key-file reads.
func NewClusterKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// WriteFile writes data to path with permissions perm, atomically: into a
// temporary file in the same directory, synced, then renamed over path.
// The new file has perm whatever the old one had.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a failure; gone after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

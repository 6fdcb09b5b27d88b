// Package tlsfiles serves TLS from PEM files that can be replaced while
// the process runs: a certificate and key pair (Pair) and a CA bundle (CA),
// each reloaded on demand (a node calls Reloaders.Reload on SIGHUP), and
// the tls.Config values that use them: ServerConfig for the API port,
// MutualServerConfig and MutualClientConfig for node-to-node mutual TLS.
//
// A config built here reads the pair and the CA at each handshake, so a
// reload reaches new connections at once while connections already open
// keep the session they negotiated. A reload that fails keeps what was
// loaded before: a half-written or mistaken file never takes a node's TLS
// down.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// MinVersion is the oldest TLS version any config here accepts: TLS 1.2.
// Older versions have known weaknesses and every current client speaks
// 1.2 or 1.3.
const MinVersion = tls.VersionTLS12

// Pair is a certificate (chain) and its private key, loaded from two PEM
// files. It is safe for concurrent use.
type Pair struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadPair loads certFile (the certificate, then any intermediates) and
// keyFile (its private key). Errors name the file at fault.
func LoadPair(certFile, keyFile string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads both files again. On success new handshakes use the new
// pair; on failure the pair loaded before stays in use and the error names
// the file at fault.
func (p *Pair) Reload() error {
	certPEM, err := os.ReadFile(p.certFile)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	// Check each file on its own first: tls.X509KeyPair's errors do not
	// say which of the two it could not read.
	if !hasBlock(certPEM, "CERTIFICATE") {
		return fmt.Errorf("certificate %s: no PEM CERTIFICATE block", p.certFile)
	}
	if !hasKeyBlock(keyPEM) {
		return fmt.Errorf("key %s: no PEM PRIVATE KEY block", p.keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate %s with key %s: %w", p.certFile, p.keyFile, err)
	}
	p.cur.Store(&cert)
	return nil
}

// Files returns the paths the pair is loaded from.
func (p *Pair) Files() (certFile, keyFile string) { return p.certFile, p.keyFile }

// Certificate returns the pair in use; its Leaf is the parsed certificate.
func (p *Pair) Certificate() *tls.Certificate { return p.cur.Load() }

// GetCertificate is tls.Config.GetCertificate: a server presents the pair
// in use.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.cur.Load(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate: a client
// presents the pair in use whatever the server asks for (a server of the
// same cluster trusts the CA that signed it).
func (p *Pair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return p.cur.Load(), nil
}

// CA is a pool of trusted CA certificates loaded from a PEM file. It is
// safe for concurrent use.
type CA struct {
	file string
	cur  atomic.Pointer[x509.CertPool]
}

// LoadCA loads the CA certificates in file.
func LoadCA(file string) (*CA, error) {
	ca := &CA{file: file}
	if err := ca.Reload(); err != nil {
		return nil, err
	}
	return ca, nil
}

// Reload reads the file again. On failure the pool loaded before stays in
// use.
func (ca *CA) Reload() error {
	pool, err := LoadCAPool(ca.file)
	if err != nil {
		return err
	}
	ca.cur.Store(pool)
	return nil
}

// Pool returns the pool in use.
func (ca *CA) Pool() *x509.CertPool { return ca.cur.Load() }

// File returns the path the CA is loaded from.
func (ca *CA) File() string { return ca.file }

// LoadCAPool reads a PEM file of CA certificates into a pool. A file that
// cannot be read, holds no certificate, or holds one that does not parse
// is an error naming the file.
func LoadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA file %s: no PEM CERTIFICATE block", file)
	}
	return pool, nil
}

func hasBlock(b []byte, typ string) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type == typ {
			return true
		}
	}
}

func hasKeyBlock(b []byte) bool {
	return hasBlock(b, "PRIVATE KEY") || hasBlock(b, "EC PRIVATE KEY") || hasBlock(b, "RSA PRIVATE KEY")
}

// Reloader is a file-backed thing that can be read again: *Pair, *CA.
type Reloader interface {
	Reload() error
}

// Reloaders is the set of files a process reloads on one signal (wharfd:
// SIGHUP): the API's pair, the peer port's pair and CA. Parts of a node
// Add theirs as they start. The zero value is empty and ready; it is safe
// for concurrent use.
type Reloaders struct {
	mu   sync.Mutex
	list []Reloader
}

// Add adds r to the set.
func (rs *Reloaders) Add(r Reloader) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.list = append(rs.list, r)
}

// Len is how many reloaders the set holds.
func (rs *Reloaders) Len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.list)
}

// Reload reloads every member, all of them even when one fails (each
// keeps its old contents on failure), and returns their errors joined.
func (rs *Reloaders) Reload() error {
	rs.mu.Lock()
	list := append([]Reloader(nil), rs.list...)
	rs.mu.Unlock()
	var errs []error
	for _, r := range list {
		if err := r.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

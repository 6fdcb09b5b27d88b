package jepsen

import (
	"crypto/x509"
	"net/http"
	"path/filepath"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// EnableTLS makes the cluster serve its API over HTTPS and authenticate
// its nodes to each other with mutual TLS (--peer-ca, --peer-cert,
// --peer-key): a CA and one node certificate, valid for 127.0.0.1, made
// in Dir/certs and given to every node (they all run on this host, so one
// certificate serves them all, joiners included), and clients that trust
// the CA. Call it before Start.
func (c *Cluster) EnableTLS() error {
	dir := filepath.Join(c.Dir, "certs")
	made, err := certgen.MakeDir(certgen.Request{Dir: dir, Nodes: []string{"node"}, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		return err
	}
	ca, err := tlsfiles.LoadCAPool(made.CACert)
	if err != nil {
		return err
	}
	n := made.Nodes[0]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ca, c.CertDir = ca, dir
	c.NodeArgs = append(c.NodeArgs, "--tls-cert", n.Cert, "--tls-key", n.Key)
	return nil
}

// apiURL is the base URL of the API at addr: https once EnableTLS ran.
func (c *Cluster) apiURL(addr string) string {
	if c.tlsCA() != nil {
		return "https://" + addr
	}
	return "http://" + addr
}

// httpClient is an HTTP client for the nodes' API, trusting the cluster's
// CA once EnableTLS ran. Each has its own connections, as before TLS.
func (c *Cluster) httpClient(timeout time.Duration) *http.Client {
	ca := c.tlsCA()
	if ca == nil {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:   tlsfiles.ClientConfig(ca),
		ForceAttemptHTTP2: true,
		MaxIdleConns:      100,
		IdleConnTimeout:   90 * time.Second,
	}}
}

func (c *Cluster) tlsCA() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ca
}

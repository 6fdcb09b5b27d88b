package jepsen

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
)

// EnableAuth turns authentication on for the run: every node gets the
// same cluster key and bootstrap admin key (files under the cluster's
// directory), so the first node up creates the admin principal, and the
// harness's clients sign every request with that key. Call it before
// Start.
func (c *Cluster) EnableAuth() error {
	id, secret, err := auth.NewAccessKey()
	if err != nil {
		return fmt.Errorf("jepsen: admin key: %w", err)
	}
	clusterKey, err := c.clusterKeyFile()
	if err != nil {
		return fmt.Errorf("jepsen: %w", err)
	}
	adminKey := filepath.Join(c.Dir, "admin.key")
	if err := os.WriteFile(adminKey, []byte(id+":"+secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("jepsen: %w", err)
	}
	c.NodeArgs = append(c.NodeArgs, "--cluster-key-file", clusterKey, "--bootstrap-admin-key-file", adminKey)
	c.creds = sigv4.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	return nil
}

// signed wraps hc, a client of the nodes' API, to sign every request
// with the admin key once EnableAuth ran.
func (c *Cluster) signed(hc *http.Client) wharfv1.HTTPClient {
	if !c.creds.Valid() {
		return hc
	}
	return &sigv4.Signer{Next: hc, Credentials: c.creds}
}

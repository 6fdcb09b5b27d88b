package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/client"
)

// certs is "wharf certs": a CA, node certificates and the cluster key in a
// directory (transport/certgen), for a cluster that runs TLS. It talks to
// no server.
func (c *cli) certs(_ context.Context, args []string) error {
	fs := c.flagSet("certs", "[--dir DIR] [--hosts HOST,...] [--days N] [--force] NODE...\n\n"+
		"Creates, in --dir: a CA (ca.crt, ca.key; ECDSA P-256, valid 10 years) unless one is there,\n"+
		"a certificate and key per NODE (NODE.crt, NODE.key) for the API port and node-to-node\n"+
		"mutual TLS, valid for --hosts, and the cluster key (cluster.key) unless one is there.\n"+
		"An existing CA signs the new node certificates; --force makes a new CA instead.\n"+
		"Keys are written 0600. The cluster key is never replaced: delete it to get a new one.")
	dir := fs.String("dir", "certs", "directory for the files (created 0700 if missing)")
	hosts := fs.String("hosts", strings.Join(certgen.DefaultHosts, ","), "DNS names and IP addresses the node certificates are valid for, comma-separated (every address clients and peers dial)")
	days := fs.Int("days", int(certgen.NodeValidity/(24*time.Hour)), "days the node certificates are valid")
	force := fs.Bool("force", false, "make a new CA even if --dir holds one (certificates it signed stop being trusted)")
	// No CA to load: this command makes it (c.parse would read $WHARF_CA,
	// which may name the file about to be created).
	nodes, err := c.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *days < 1 {
		return c.usageError(fs, "--days must be at least 1")
	}
	made, err := certgen.MakeDir(certgen.Request{
		Dir:          *dir,
		Nodes:        nodes,
		Hosts:        strings.Split(*hosts, ","),
		Force:        *force,
		NodeValidity: time.Duration(*days) * 24 * time.Hour,
	})
	if err != nil {
		return err
	}
	if made.NewCA {
		fmt.Fprintf(c.out, "created CA %s (key %s: keep it private)\n", made.CACert, made.CAKey)
	} else {
		fmt.Fprintf(c.out, "using existing CA %s (--force makes a new one)\n", made.CACert)
	}
	for _, n := range made.Nodes {
		fmt.Fprintf(c.out, "%s: certificate %s, key %s, valid for %s\n", n.Name, n.Cert, n.Key, *hosts)
	}
	if made.NewClusterKey {
		fmt.Fprintf(c.out, "created cluster key %s (give every node the same: wharfd --cluster-key-file)\n", made.ClusterKey)
	} else {
		fmt.Fprintf(c.out, "kept cluster key %s\n", made.ClusterKey)
	}
	ca, err := filepath.Abs(made.CACert)
	if err != nil {
		ca = made.CACert
	}
	fmt.Fprintf(c.out, "clients trust the CA with:\n  export %s=%s\n", client.EnvCA, ca)
	return nil
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/apiauth"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// authServer is what authentication needs of a node; *node.Node provides
// it.
type authServer interface {
	wharfv1.AdminService
	apiauth.Source
	BootstrapAdmin(ctx context.Context, accessKeyID, secret string) (created bool, err error)
}

// openWarning is logged at start while no principal exists.
const openWarning = "no access keys: the API is open to anyone who can reach it; fine for local use"

// guardAPI puts authentication in front of the API handler (apiauth):
// the services inside must be wrapped with apiauth.Queues, Cluster and
// Admin.
func guardAPI(h http.Handler, n authServer, logger *slog.Logger) http.Handler {
	return apiauth.Handler(h, n, apiauth.Options{
		MaxBodyBytes: twirpapi.MaxRequestBytes,
		Logger:       logger.With("component", "auth"),
	})
}

// accessKeyKey returns the key access-key secrets are sealed with: the
// cluster key of --cluster-key-file. Without one, a single node keeps a
// key of its own in a file next to its data directory (generated on first
// start): the secrets in the data directory are then only as safe as that
// file. A node of a cluster without --cluster-key-file gets none (nil):
// its nodes could not open each other's secrets, so it cannot make keys.
func accessKeyKey(cfg config, dataDir string, logger *slog.Logger) ([]byte, error) {
	if cfg.clusterKeyFile != "" {
		return loadClusterKey(cfg.clusterKeyFile)
	}
	if len(cfg.initialMembers) > 1 || cfg.join != "" {
		return nil, nil
	}
	path := localKeyPath(dataDir)
	if _, err := os.Stat(path); err == nil {
		return loadClusterKey(path)
	}
	key := make([]byte, clusterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate %s: %w", path, err)
	}
	err := writeNew(path, hex.EncodeToString(key)+"\n")
	if errors.Is(err, fs.ErrExist) {
		return loadClusterKey(path)
	}
	if err != nil {
		// Not fatal: the node runs, open or with keys made elsewhere,
		// and making an access key says what is missing.
		logger.Warn("cannot create a key to seal access-key secrets with; access keys cannot be created on this node (give --cluster-key-file)", "file", path, "err", err)
		return nil, nil
	}
	logger.Warn("generated a key to seal access-key secrets with, next to the data directory: their protection at rest depends on keeping this file away from the data directory's copies and backups (or give --cluster-key-file)", "file", path)
	return key, nil
}

// localKeyPath is the single node's own sealing key: <data dir>.cluster-key.
func localKeyPath(dataDir string) string {
	return filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".cluster-key")
}

// writeNew creates path, readable by its owner only, with content; it fails
// with fs.ErrExist if path exists. The file appears whole: nodes started
// together on one machine with the same file (make cluster) may race to
// create it, and a loser must never read it half written.
func writeNew(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// CreateTemp made it 0600. A link fails if path exists, unlike a
	// rename, which would replace it.
	return os.Link(tmp.Name(), path)
}

// bootstrapTimeout bounds the bootstrap's wait for the metadata shard.
const bootstrapTimeout = time.Minute

// startAuth runs before the API serves: with --bootstrap-admin-key-file it
// creates the admin principal if no principal exists, then it logs whether
// authentication is on (the open warning if not).
func startAuth(ctx context.Context, n authServer, cfg config, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	if cfg.bootstrapAdminKeyFile != "" {
		id, secret, err := bootstrapKey(cfg.bootstrapAdminKeyFile, logger)
		if err != nil {
			return err
		}
		// Principals exist on every start but the first: reading them
		// first spares the log a proposal that would change nothing.
		var created bool
		err = retryUnavailable(ctx, func() error {
			dir, err := n.AuthDirectory(ctx)
			if err != nil || dir.Enabled() {
				return err
			}
			created, err = n.BootstrapAdmin(ctx, id, secret)
			return err
		})
		if err != nil {
			return fmt.Errorf("--bootstrap-admin-key-file: %w", err)
		}
		if created {
			logger.Info("created the bootstrap admin principal", "principal", "admin", "access_key_id", id)
		} else {
			logger.Info("principals exist already: --bootstrap-admin-key-file changes nothing", "access_key_id", id)
		}
	}
	var dir *auth.Directory
	err := retryUnavailable(ctx, func() (err error) {
		dir, err = n.AuthDirectory(ctx)
		return err
	})
	switch {
	case err != nil:
		logger.Warn("cannot read the principals yet: requests are checked once they can be", "err", err)
	case !dir.Enabled():
		logger.Warn(openWarning)
	default:
		logger.Info("authentication on: every API request must be signed with an access key")
	}
	return nil
}

// retryUnavailable runs f until it succeeds, fails otherwise than
// unavailable (no leader yet), or ctx ends.
func retryUnavailable(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if c := core.CodeOf(err); c != core.Unavailable && c != core.DeadlineExceeded {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// bootstrapKey reads the bootstrap admin key: "ACCESS_KEY_ID:SECRET" on one
// line, or the id and the secret on two. A missing file is created with a
// new key (readable by its owner only), whose id is logged; the secret is
// only in the file.
func bootstrapKey(path string, logger *slog.Logger) (id, secret string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id, secret, err = auth.NewAccessKey()
		if err != nil {
			return "", "", err
		}
		err := writeNew(path, id+":"+secret+"\n")
		if errors.Is(err, fs.ErrExist) {
			// Another node on this machine made it first: use its key.
			return bootstrapKey(path, logger)
		}
		if err != nil {
			return "", "", fmt.Errorf("--bootstrap-admin-key-file: create %s: %w", path, err)
		}
		logger.Warn("generated the bootstrap admin key: its secret is in the file; export WHARF_ACCESS_KEY_ID and WHARF_SECRET_ACCESS_KEY from it to use the CLI", "file", path, "access_key_id", id)
		return id, secret, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("--bootstrap-admin-key-file: %w", err)
	}
	id, secret, err = parseKeyFile(string(b))
	if err != nil {
		return "", "", fmt.Errorf("--bootstrap-admin-key-file %s: %w", path, err)
	}
	return id, secret, nil
}

// parseKeyFile parses "ID:SECRET" or "ID\nSECRET".
func parseKeyFile(s string) (id, secret string, err error) {
	fields := strings.Fields(s)
	switch {
	case len(fields) == 1 && strings.Count(fields[0], ":") == 1:
		id, secret, _ = strings.Cut(fields[0], ":")
	case len(fields) == 2:
		id, secret = fields[0], fields[1]
	default:
		return "", "", errors.New(`want "ACCESS_KEY_ID:SECRET" on one line, or the id and the secret on two lines`)
	}
	if err := auth.CheckAccessKey(id, secret); err != nil {
		return "", "", err
	}
	return id, secret, nil
}

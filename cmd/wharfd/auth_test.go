package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/core/auth"
)

// The fake node has no principal: the API is open.
func (f *fakeNode) AuthDirectory(context.Context) (*auth.Directory, error) {
	return auth.NewDirectory(nil, nil), nil
}

func (f *fakeNode) BootstrapAdmin(context.Context, string, string) (bool, error) { return false, nil }

func TestParseKeyFile(t *testing.T) {
	const id, secret = "WKIDABCDEFGHIJKLMNOP", "a-secret-of-enough-length"
	for _, content := range []string{id + ":" + secret + "\n", id + "\n" + secret + "\n", "  " + id + ":" + secret} {
		gotID, gotSecret, err := parseKeyFile(content)
		if err != nil || gotID != id || gotSecret != secret {
			t.Errorf("parseKeyFile(%q) = %q, %q, %v", content, gotID, gotSecret, err)
		}
	}
	for _, bad := range []string{"", id, id + ":" + secret + ":x", id + ":short", "bad id!:" + secret, id + " " + secret + " more"} {
		if _, _, err := parseKeyFile(bad); err == nil {
			t.Errorf("parseKeyFile(%q) accepted", bad)
		}
	}
}

func TestAccessKeyKey(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")

	// A single node without --cluster-key-file makes its own, once.
	first, err := accessKeyKey(config{}, dataDir, logger)
	if err != nil || len(first) != clusterKeySize {
		t.Fatalf("first start: %x, %v", first, err)
	}
	info, err := os.Stat(dataDir + ".cluster-key")
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
	again, err := accessKeyKey(config{}, dataDir, logger)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second start read %x, %v; want the same key", again, err)
	}

	// --cluster-key-file wins.
	keyFile := filepath.Join(dir, "cluster.key")
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", clusterKeySize)+"\n"), 0o600)
	got, err := accessKeyKey(config{clusterKeyFile: keyFile}, dataDir, logger)
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{0xab}, clusterKeySize)) {
		t.Fatalf("with --cluster-key-file: %x, %v", got, err)
	}

	// A node of a cluster gets none without it.
	got, err = accessKeyKey(config{join: "127.0.0.1:1"}, filepath.Join(dir, "other"), logger)
	if err != nil || got != nil {
		t.Fatalf("joining node without --cluster-key-file: %x, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.cluster-key")); err == nil {
		t.Fatal("a joining node made a key of its own")
	}
}

// Nodes started together on one machine with the same bootstrap file (make
// cluster) all end up with the one key the first of them wrote.
func TestBootstrapKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.key")
	logger := slog.New(slog.DiscardHandler)
	type key struct{ id, secret string }
	keys := make(chan key, 8)
	for range 8 {
		go func() {
			id, secret, err := bootstrapKey(path, logger)
			if err != nil {
				t.Error(err)
			}
			keys <- key{id, secret}
		}()
	}
	first := <-keys
	for range 7 {
		if k := <-keys; k != first {
			t.Fatalf("two nodes got different bootstrap keys: %v and %v", first, k)
		}
	}
	if id, secret, err := bootstrapKey(path, logger); err != nil || (key{id, secret}) != first {
		t.Fatalf("the file holds %q %q (%v), not the key handed out", id, secret, err)
	}
}

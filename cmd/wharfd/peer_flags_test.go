package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/core/node"
)

// TestClusterNeedsPeerAuth: a node that starts or joins a cluster of
// several nodes with neither mutual TLS nor a cluster key refuses to start,
// naming the flags, unless --insecure (then it warns once); a single node
// says nothing about peers.
func TestClusterNeedsPeerAuth(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run1 := func(args ...string) (int, string, node.Config) {
		t.Helper()
		addrs := freeAddrs(t, 2)
		var got node.Config
		start := func(_ context.Context, cfg node.Config) (server, error) {
			got = cfg
			return nil, errors.New("recorded")
		}
		var stderr bytes.Buffer
		full := []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1]}
		for _, a := range args {
			// MEMBERS: this node (at its --raft-addr) and another.
			full = append(full, strings.ReplaceAll(a, "MEMBERS", "1="+addrs[1]+",2=127.0.0.1:1"))
		}
		code := run(context.Background(), full, &stderr, start)
		return code, stderr.String(), got
	}
	for _, args := range [][]string{
		{"--node-id", "1", "--initial-members", "MEMBERS"},
		{"--join", "127.0.0.1:1"},
	} {
		code, stderr, _ := run1(args...)
		if code != 2 {
			t.Errorf("%q with no peer authentication: exit %d, want 2", args, code)
		}
		for _, flag := range []string{"--cluster-key-file", "--peer-ca", "--insecure"} {
			if !strings.Contains(stderr, flag) {
				t.Errorf("%q: the refusal does not name %s:\n%s", args, flag, stderr)
			}
		}
		// With --insecure: it starts, and warns once.
		code, stderr, cfg := run1(append(args, "--insecure")...)
		if code != 1 || !strings.Contains(stderr, "recorded") || cfg.RaftTransport == nil {
			t.Errorf("%q --insecure: exit %d, did not reach the node start:\n%s", args, code, stderr)
		}
		if n := strings.Count(stderr, "INSECURE"); n != 1 {
			t.Errorf("%q --insecure: %d INSECURE warnings, want 1:\n%s", args, n, stderr)
		}
		// With a cluster key: it starts, no warning.
		code, stderr, _ = run1(append(args, "--cluster-key-file", keyFile)...)
		if code != 1 || !strings.Contains(stderr, "recorded") || strings.Contains(stderr, "INSECURE") {
			t.Errorf("%q with a cluster key: exit %d:\n%s", args, code, stderr)
		}
	}
	code, stderr, _ := run1()
	if code != 1 || !strings.Contains(stderr, "recorded") || strings.Contains(stderr, "INSECURE") || strings.Contains(stderr, "authenticat") {
		t.Errorf("single node: exit %d, want a quiet start:\n%s", code, stderr)
	}
	// A bad key file stops the start, naming the flag.
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("short"), 0o600)
	code, stderr, _ = run1("--cluster-key-file", bad)
	if code != 1 || !strings.Contains(stderr, "--cluster-key-file") {
		t.Errorf("bad key file: exit %d:\n%s", code, stderr)
	}
}

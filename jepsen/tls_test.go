package jepsen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSRun runs the workloads against one node serving HTTPS
// (Options.TLS): the clients reach it through the CA, and the history
// checks out.
func TestTLSRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		Nodes: 1, TimeLimit: 4 * time.Second, Rate: 20, Clients: 2,
		Workloads: Workloads, Hold: time.Second, Quiet: time.Second,
		Results: results, Repo: repo, Seed: 1, TLS: true, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, _, _ := rep.opCounts()
	if !rep.Valid || ok == 0 {
		t.Fatalf("valid %v with %d ops ok:\n%s", rep.Valid, ok, rep.Summary())
	}
	log, err := os.ReadFile(filepath.Join(results, "cluster", "n1.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The node speaks only HTTPS with --tls-cert (a plain request gets a
	// 400), so the ops that succeeded went over TLS.
	if !strings.Contains(string(log), "--tls-cert") {
		t.Errorf("the node was not started with --tls-cert:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(results, "cluster", "certs")); err == nil {
		t.Error("the run left its keys in the results")
	}
}

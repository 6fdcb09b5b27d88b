package jepsen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke is make test's Jepsen run: 3 real wharfd processes, 35 s of
// clients on every workload under one fault of each smoke kind, then the
// heal, the drain and the checks. It kills every process it started when
// it ends, whatever the outcome (Run's cleanup, and the context's).
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of real processes")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	began := time.Now()
	rep, err := Run(ctx, Options{
		Nodes: 3, TimeLimit: 35 * time.Second, Rate: 30, Clients: 6,
		Nemeses: SmokeNemeses, Workloads: Workloads,
		Hold: 2 * time.Second, Quiet: time.Second,
		Results: results, Repo: repo, Seed: uint64(time.Now().UnixNano()),
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke run took %v\n%s", time.Since(began).Round(time.Second), rep.Summary())
	if !rep.Valid {
		if dir := os.Getenv("WHARF_JEPSEN_KEEP"); dir != "" {
			os.CopyFS(filepath.Join(dir, filepath.Base(results)), os.DirFS(results))
		}
		t.Fatalf("history judged invalid (set WHARF_JEPSEN_KEEP=<dir> to keep the results)")
	}
	ran := rep.NemesisCounts()
	for _, k := range SmokeNemeses {
		if ran[k] == 0 {
			t.Errorf("nemesis %s never ran: %v", k, ran)
		}
	}
	if acc, ident, _ := rep.ProxyAccepted, rep.ProxyIdentified, 0; ident == 0 || ident*2 < acc {
		t.Errorf("proxies traced %d of %d connections to a node", ident, acc)
	}
	for _, f := range []string{rep.History, rep.Verdict, rep.Latency, rep.Throughput} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("result file %s: %v", f, err)
		}
	}
}

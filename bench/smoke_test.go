package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// startWharf builds wharfd and starts a single node for the test.
func startWharf(t *testing.T) *WharfCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts wharfd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := BuildWharfd(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartWharfCluster(ctx, bin, dir, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestSmokeWharf runs each workload briefly against one real wharfd. It
// checks that the workloads move messages and report, not how fast.
func TestSmokeWharf(t *testing.T) {
	c := startWharf(t)
	target := NewWharfTarget(c.Endpoints, c.Procs, c.CA)
	defer target.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, mode := range Modes {
		cfg := DefaultConfig(mode)
		cfg.Duration, cfg.Count, cfg.Warmup, cfg.Drain = 3*time.Second, 40, 0, 5*time.Second
		cfg.Inflight, cfg.Producers, cfg.Consumers, cfg.Groups = 4, 2, 2, 5
		if mode == "e2e" {
			cfg.Producers, cfg.Consumers, cfg.Rate = 1, 1, 100
		}
		res, err := Run(ctx, target, cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Errors > 0 {
			t.Errorf("%s: %d errors, first: %s", mode, res.Errors, res.FirstError)
		}
		if res.Sent == 0 || res.Latency["send"].Count == 0 {
			t.Errorf("%s: nothing sent", mode)
		}
		if cfg.consumes() && (res.Consumed == 0 || res.Latency["e2e"].Count == 0) {
			t.Errorf("%s: nothing consumed", mode)
		}
		if res.ServerCPU < 0 {
			t.Errorf("%s: no server CPU for a server the bench started", mode)
		}
		if len(res.Timeline) == 0 {
			t.Errorf("%s: empty timeline", mode)
		}
	}
}

// TestMainAgainstEndpoints runs the command line against a running node.
func TestMainAgainstEndpoints(t *testing.T) {
	c := startWharf(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), "wharf-bench", []string{"suite", "--endpoints", strings.Join(c.Endpoints, ","),
		"--modes", "sync-send,e2e", "--count", "10", "--duration", "5s", "--warmup", "0", "--quiet", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	for _, s := range []string{"sync-send", "e2e", "p99.9 ms"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, &stdout)
		}
	}
	for _, name := range []string{"report.json", "results.txt", "plot.html"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{{"--modes", "nope"}, {"--peers", "kafka"}, {"--batch", "11"}, {"extra"}, {"--delete", "some"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), "wharf-bench", args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr: %s)", args, code, &stderr)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), "wharf-bench", []string{"-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-outstanding") {
		t.Errorf("-h: exit %d, usage:\n%s", code, &stderr)
	}
}

func TestGroupCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, _, err := procStat("self"); err != nil {
		t.Fatal(err)
	}
	if selfCPU() < 0 {
		t.Fatal("negative CPU")
	}
}

// TestFill fills a queue on a real node through the command line: every
// acknowledged message is in the queue, and the bodies are random text.
func TestFill(t *testing.T) {
	c := startWharf(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc := client.New(c.Endpoints)
	if _, err := svc.CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: "backlog"}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	// 2^-13 GiB = 128 KiB: 128 bodies of 1 KiB.
	code := Main(ctx, "wharf-bench", []string{"fill", "--endpoints", strings.Join(c.Endpoints, ","),
		"--queue", "backlog", "--gib", "0.0001220703125", "--size", "1024", "--inflight", "4"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	if want := "filled backlog: 128 messages, 131072 bytes"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("output %q lacks %q", stdout.String(), want)
	}
	q, err := svc.GetQueue(ctx, &wharfv1.GetQueueRequest{Queue: "backlog"})
	if err != nil {
		t.Fatal(err)
	}
	if n := q.GetQueue().GetApproximateNumberOfMessages(); n != 128 {
		t.Fatalf("queue holds %d messages, want 128", n)
	}
	wait := int32(1)
	got, err := svc.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: "backlog", MaxMessages: 2, WaitTimeSeconds: &wait})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 || got.Messages[0].Body == got.Messages[1].Body || len(got.Messages[0].Body) != 1024 {
		t.Fatalf("bodies: want two distinct 1024-byte random bodies, got %d messages", len(got.Messages))
	}
	// Bad command lines.
	for _, args := range [][]string{{"fill", "--queue", "backlog", "extra"}, {"fill", "--nope"}} {
		stderr.Reset()
		if code := Main(ctx, "wharf-bench", args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr: %s)", args, code, &stderr)
		}
	}
}

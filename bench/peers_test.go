package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// runSmoke runs the work-queue and fifo workloads briefly against target.
func runSmoke(t *testing.T, target Target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, mode := range []string{"sync-send", "work-queue", "fifo"} {
		cfg := DefaultConfig(mode)
		cfg.Duration, cfg.Count, cfg.Warmup, cfg.Drain = 3*time.Second, 30, 0, 5*time.Second
		cfg.Producers, cfg.Consumers, cfg.Groups = 2, 2, 3
		res, err := Run(ctx, target, cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Errors > 0 || res.Sent == 0 || (cfg.consumes() && res.Consumed == 0) {
			t.Errorf("%s: sent %d consumed %d errors %d (first: %s)", mode, res.Sent, res.Consumed, res.Errors, res.FirstError)
		}
	}
}

// TestSmokeNATS runs against a one-server JetStream (stream replicas 1)
// when nats-server is installed (make bench-peers).
func TestSmokeNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	bin, err := lookBin("nats-server")
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	c, err := StartNATSCluster(ctx, bin, t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	target, err := NewNATSTarget(ctx, c.URLs, 1, c.Procs)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	runSmoke(t, target)
}

// TestSmokeRabbitMQ starts a one-node RabbitMQ (about 20 s), so it runs
// only with WHARF_BENCH_PEER_TESTS=1 and rabbitmq-server installed.
func TestSmokeRabbitMQ(t *testing.T) {
	if os.Getenv("WHARF_BENCH_PEER_TESTS") == "" {
		t.Skip("set WHARF_BENCH_PEER_TESTS=1 to start RabbitMQ")
	}
	if _, err := lookBin("rabbitmq-server"); err != nil {
		t.Skip(err)
	}
	c, err := StartRabbitCluster(context.Background(), t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	runSmoke(t, NewRabbitTarget(c.URLs, 1, c.Procs))
}

// TestProcGroup starts a shell that spawns a child, and checks that the
// group's CPU is readable, that pausing and resuming work, and that Stop
// ends the whole group.
func TestProcGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	p, err := StartProc("sh", exec.Command("sh", "-c", "sleep 30 & wait"), t.TempDir()+"/log")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := p.CPU(); err != nil {
		t.Fatalf("CPU of a live group: %v", err)
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	p.Stop(2 * time.Second)
	if !p.Exited() {
		t.Fatal("leader still running after Stop")
	}
	// The killed child may linger as a zombie until it is reaped.
	for deadline := time.Now().Add(5 * time.Second); groupLive(p.PID()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a process of the group outlived Stop")
		}
	}
}

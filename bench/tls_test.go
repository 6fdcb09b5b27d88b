package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// TestTLS runs one wharfd serving HTTPS (StartWharfClusterTLS) and drives it
// through the command line with --ca: a suite run and a fill.
func TestTLS(t *testing.T) {
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
	c, err := StartWharfClusterTLS(ctx, bin, dir, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if !strings.HasPrefix(c.Endpoints[0], "https://") || c.CA == nil {
		t.Fatalf("endpoints %v, CA %v", c.Endpoints, c.CA)
	}
	ca := filepath.Join(dir, "certs", "ca.crt")
	eps := strings.Join(c.Endpoints, ",")

	var stdout, stderr bytes.Buffer
	code := Main(ctx, "wharf-bench", []string{"run", "--endpoints", eps, "--ca", ca,
		"--modes", "sync-send", "--count", "10", "--duration", "5s", "--warmup", "0", "--quiet"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "sync-send") {
		t.Fatalf("run over HTTPS: exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}

	svc := client.New(c.Endpoints, client.WithCA(c.CA))
	if _, err := svc.CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: "backlog"}); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	code = Main(ctx, "wharf-bench", []string{"fill", "--endpoints", eps, "--ca", ca,
		"--queue", "backlog", "--gib", "0.0001220703125", "--size", "1024"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "filled backlog: 128 messages") {
		t.Fatalf("fill over HTTPS: exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}

	// A bad --ca is an error naming the file; --tls is for a cluster the
	// bench starts.
	missing := filepath.Join(dir, "missing.crt")
	for _, args := range [][]string{
		{"run", "--endpoints", eps, "--ca", missing, "--count", "1"},
		{"fill", "--endpoints", eps, "--ca", missing, "--queue", "backlog"},
	} {
		stderr.Reset()
		if code := Main(ctx, "wharf-bench", args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), missing) {
			t.Errorf("%q: exit %d, stderr %q; want 1 naming %s", args, code, &stderr, missing)
		}
	}
	stderr.Reset()
	if code := Main(ctx, "wharf-bench", []string{"--endpoints", eps, "--tls"}, &stdout, &stderr); code != 2 {
		t.Errorf("--tls with --endpoints: exit %d (%s)", code, &stderr)
	}
}

package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeResult(target, mode string, rate, p50, p99, cpuPerMsg float64) *Result {
	cfg := DefaultConfig(mode)
	r := &Result{Target: target, Mode: mode, Config: cfg, Seconds: 10, Latency: map[string]Summary{}, ServerCPU: 1, ServerCPUPercent: 10, ServerCPUPerMsg: cpuPerMsg}
	op := r.LatencyOp()
	r.Latency[op] = Summary{Count: 100, P50: p50, P90: p50 * 2, P99: p99, P999: p99 * 2, Max: p99 * 3}
	if cfg.consumes() {
		r.ConsumeRate = rate
		r.Latency["send"] = Summary{Count: 100, P50: 1, P99: 2}
	} else {
		r.SendRate = rate
	}
	r.Timeline = []Point{{T: 1, Sent: 10, Consumed: 10, Latency: map[string]Summary{op: r.Latency[op]}}, {T: 2, Sent: 12, Consumed: 11, Latency: map[string]Summary{op: r.Latency[op]}}}
	return r
}

func TestCompareRatios(t *testing.T) {
	results := []*Result{
		fakeResult("nats", "sync-send", 1000, 1, 4, 100),
		fakeResult("wharf", "sync-send", 2000, 0.5, 2, 50),
		fakeResult("rabbitmq", "sync-send", 500, 2, 8, 200),
		fakeResult("wharf", "work-queue", 4000, 3, 9, 25),
		fakeResult("nats", "work-queue", 2000, 1.5, 3, 50),
	}
	rows := Compare(results)
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 4 metrics x 2 workloads", len(rows))
	}
	if got := rows[0].Targets; strings.Join(got, ",") != "wharf,nats,rabbitmq" {
		t.Fatalf("targets %v, want wharf first", got)
	}
	want := map[string][]float64{
		"sync-send msgs/s":            {2, 4},
		"sync-send send p50 ms":       {0.5, 0.25},
		"sync-send send p99 ms":       {0.5, 0.25},
		"sync-send server CPU µs/msg": {0.5, 0.25},
		"work-queue msgs/s":           {2, 0}, // no rabbitmq run: no ratio
		"work-queue e2e p50 ms":       {2, 0},
	}
	for _, r := range rows {
		w, ok := want[r.Mode+" "+r.Metric]
		if !ok {
			continue
		}
		for i := range w {
			if diff := r.Ratios[i] - w[i]; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("%s %s: ratios %v, want %v", r.Mode, r.Metric, r.Ratios, w)
			}
		}
	}
	var b bytes.Buffer
	WriteComparison(&b, rows)
	out := b.String()
	for _, s := range []string{
		"| workload | metric | wharf | nats | rabbitmq | wharf ÷ nats | wharf ÷ rabbitmq |",
		"| sync-send | msgs/s (higher is better) | 2000 | 1000 | 500 | 2.00x | 4.00x |",
		"| sync-send | send p99 ms (lower is better) | 2.00 | 4.00 | 8.00 | 0.50x | 0.25x |",
		"| work-queue | e2e p50 ms (lower is better) | 3.00 | 1.50 | - | 2.00x | - |",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("comparison lacks %q:\n%s", s, out)
		}
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	r := fakeResult("wharf", "work-queue", 1234.5, 0.25, 12.5, 80)
	r.Errors, r.FirstError = 2, "send: boom"
	if err := WriteText(&b, []*Result{r}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 { // header, send, e2e, error line
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, s := range []string{"msgs/s", "p99.9 ms", "1234", "0.250", "12.5", "10% (80 µs/msg)", "wharf work-queue: 2 errors, first: send: boom"} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0"}, {0.0123, "0.012"}, {1.234, "1.23"}, {12.34, "12.3"}, {123.4, "123"}} {
		if got := fmtMs(c.v); got != c.want {
			t.Errorf("fmtMs(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := fmtRate(12.34); got != "12.3" {
		t.Errorf("fmtRate(12.34) = %q", got)
	}
	if got := fmtRate(1234.5); got != "1234" && got != "1235" {
		t.Errorf("fmtRate(1234.5) = %q", got)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	rep := &Report{Started: time.Unix(0, 0), Host: map[string]string{"cpus": "2"}, Targets: map[string]string{"wharf": "test"},
		Results: []*Result{fakeResult("wharf", "sync-send", 100, 1, 2, 3), fakeResult("nats", "sync-send", 50, 2, 4, 6)}}
	if err := WriteFiles(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "results.txt", "comparison.md", "comparison.json", "plot.html"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 2 || back.Results[0].Latency["send"].P99 != 2 {
		t.Fatalf("report.json does not round-trip: %v", err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "plot.html"))
	if n := strings.Count(string(page), "<svg"); n != 2 {
		t.Errorf("plot has %d charts, want 2 (throughput and latency of one workload)", n)
	}
	if !strings.Contains(string(page), "<polyline") || strings.Contains(string(page), "<script") {
		t.Error("plot should draw lines and hold no script")
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{1086, 2000}, {0.3, 0.5}, {7, 10}, {100, 100}, {0, 1}} {
		if got := niceStep(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

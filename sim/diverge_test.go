package sim

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestDiverge (WHARF_SIM_DIVERGE=<seed>) runs one seed twice and prints
// where the two network delivery logs first differ: the first place where
// something outside the seed's control (Go's scheduler, dragonboat's
// goroutines) changed the run.
func TestDiverge(t *testing.T) {
	seed, err := strconv.ParseUint(os.Getenv("WHARF_SIM_DIVERGE"), 10, 64)
	if err != nil {
		t.Skip("set WHARF_SIM_DIVERGE=<seed>")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var logs [2][]string
	for i := range logs {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			logs[i] = Run(ctx, RunConfig{Seed: seed, Duration: 5 * time.Second, Record: true}).NetLog
		})
	}
	for j := range min(len(logs[0]), len(logs[1])) {
		if logs[0][j] != logs[1][j] {
			for k := max(0, j-5); k < min(j+5, len(logs[0]), len(logs[1])); k++ {
				t.Logf("%d\n  %s\n  %s", k, logs[0][k], logs[1][k])
			}
			return
		}
	}
	t.Logf("identical: %d and %d deliveries", len(logs[0]), len(logs[1]))
}

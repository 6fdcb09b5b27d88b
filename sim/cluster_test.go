package sim

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestCrashesKeepAcknowledgedSends runs the real nodes through a follower
// crash, a leader crash and a power loss of all three, in virtual time.
func TestCrashesKeepAcknowledgedSends(t *testing.T) {
	wall := time.Now()
	var virtual time.Duration
	var trace uint64
	var delivered int
	synctest.Test(t, func(t *testing.T) {
		virtual, trace, delivered = runScenario(t, 1)
	})
	elapsed := time.Since(wall)
	t.Logf("virtual %v in wall %v: %.1f virtual seconds per wall second; trace %x over %d messages",
		virtual, elapsed, virtual.Seconds()/elapsed.Seconds(), trace, delivered)
}

// TestReplay measures how often the same seed gives the same network
// trace, at GOMAXPROCS=1. It reports the rate and
// agree: bit-exact replay is not promised (Go's scheduler and
// dragonboat's batching within one virtual instant are not controlled).
// It is a measurement: it never fails on the rate.
// WHARF_SIM_REPLAYS sets the number of runs (3 by default, to stay quick).
func TestReplay(t *testing.T) {
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("WHARF_SIM_REPLAYS")); err == nil && v > 1 {
		runs = v
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	counts := map[uint64]int{}
	wall := time.Now()
	for i := range runs {
		var trace uint64
		var delivered int
		synctest.Test(t, func(t *testing.T) {
			_, trace, delivered = runScenario(t, 7)
		})
		counts[trace]++
		t.Logf("run %d: trace %x over %d messages", i, trace, delivered)
	}
	best := 0
	for _, c := range counts {
		best = max(best, c)
	}
	t.Logf("same seed, %d runs at GOMAXPROCS=1 in %v: %d distinct traces, the commonest in %d of %d runs",
		runs, time.Since(wall), len(counts), best, runs)
}

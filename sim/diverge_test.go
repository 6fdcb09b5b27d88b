package sim

import (
	"context"
	"os"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wharfmq/wharf/sim/network"
)

// TestDiverge (WHARF_SIM_DIVERGE=1) starts the same cluster twice and
// prints where the two delivery logs first differ.
func TestDiverge(t *testing.T) {
	if os.Getenv("WHARF_SIM_DIVERGE") == "" {
		t.Skip("set WHARF_SIM_DIVERGE=1")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var logs [2][]string
	for i := range logs {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			c, err := Start(ctx, Options{Seed: 3, Net: network.Config{Record: true}})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			c.Close()
			logs[i] = c.Net.Log()
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

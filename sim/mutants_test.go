package sim

import (
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core/mutants"
)

// Flags of TestSimMutants (make sim-mutants passes them).
var (
	flagMutants       = flag.String("sim.mutants", "", `planted bugs for TestSimMutants: "all" or names, comma-separated (empty: skip)`)
	flagMutantSeeds   = flag.Int("sim.mutant-seeds", 30, "seeds tried per planted bug before it counts as not caught")
	flagMutantReplays = flag.Int("sim.mutant-replays", 3, "times the catching seed is run again, to measure how often a failure replays")
)

// enableMutant turns a planted bug on for this process. It refuses when
// failpoint-ctl has not rewritten the bug's package: the marker would be a
// no-op and every seed would pass, which looks like a bug the simulator
// misses.
func enableMutant(name string) error {
	m, ok := findMutant(name)
	if !ok {
		return fmt.Errorf("no planted bug %q", name)
	}
	dir := filepath.Join("..", strings.TrimPrefix(m.Package, "github.com/wharfmq/wharf/"))
	if !mutants.Rewritten(dir) {
		return fmt.Errorf("planted bug %s: %s was not rewritten by failpoint-ctl (run make sim-mutants)", name, dir)
	}
	return mutants.Enable(name)
}

func findMutant(name string) (mutants.Mutant, bool) {
	for _, m := range mutants.All {
		if m.Name == name {
			return m, true
		}
	}
	return mutants.Mutant{}, false
}

// mutantOutcome is what the search for one planted bug found.
type mutantOutcome struct {
	m     mutants.Mutant
	seed  uint64 // the seed that caught it; 0 if none did
	runs  int
	first string // the first anomaly reported
	// refailed of replays: how often the catching seed failed again.
	refailed, replays int
	elapsed           time.Duration
}

// TestSimMutants proves the simulator's checks bite: for each planted bug
// it runs seeds 1, 2, ... (each in a worker process with the bug enabled)
// until one fails, and reports which seed caught it after how many runs.
// Every planted bug must be caught within -sim.mutant-seeds seeds.
func TestSimMutants(t *testing.T) {
	if *flagMutants == "" {
		t.Skip("run by make sim-mutants (needs a tree rewritten by failpoint-ctl)")
	}
	var list []mutants.Mutant
	if *flagMutants == "all" {
		list = mutants.All
	} else {
		for _, name := range strings.Split(*flagMutants, ",") {
			m, ok := findMutant(strings.TrimSpace(name))
			if !ok {
				t.Fatalf("no planted bug %q", name)
			}
			list = append(list, m)
		}
	}
	for _, m := range list {
		if err := enableMutant(m.Name); err != nil {
			t.Fatal(err)
		}
		if err := mutants.Disable(m.Name); err != nil {
			t.Fatal(err)
		}
	}
	workers := *flagWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	tmp := t.TempDir()
	out := make([]mutantOutcome, len(list))
	wall := time.Now()
	inParallel(len(list), workers, func(i int) { out[i] = hunt(t, tmp, list[i]) })

	var b strings.Builder
	missed, replays, refailed := 0, 0, 0
	fmt.Fprintf(&b, "wharf sim-mutants: %d planted bugs, up to %d seeds of %v each, %v wall\n",
		len(list), *flagMutantSeeds, *flagDuration, time.Since(wall).Round(time.Second))
	for _, o := range out {
		if o.seed == 0 {
			missed++
			fmt.Fprintf(&b, "  NOT CAUGHT %-30s after %d runs (%s)\n", o.m.Name, o.runs, o.m.What)
			continue
		}
		replays, refailed = replays+o.replays, refailed+o.refailed
		fmt.Fprintf(&b, "  caught %-30s by seed %d after %d run(s), failed again in %d of %d replays: %s\n",
			o.m.Name, o.seed, o.runs, o.refailed, o.replays, clip(o.first, 150))
	}
	fmt.Fprintf(&b, "caught %d of %d; the catching seeds failed again in %d of %d replays\n", len(list)-missed, len(list), refailed, replays)
	fmt.Fprintf(&b, "replay one: make sim-mutants MUTANTS=<name> SEED=<seed>\n")
	fmt.Print(b.String())
	if missed > 0 {
		t.Errorf("%d planted bugs not caught", missed)
	}
}

// hunt runs seeds with m enabled until one fails.
func hunt(t *testing.T, tmp string, m mutants.Mutant) mutantOutcome {
	o := mutantOutcome{m: m}
	start := time.Now()
	defer func() { o.elapsed = time.Since(start) }()
	for seed := uint64(1); seed <= uint64(*flagMutantSeeds); seed++ {
		o.runs++
		rep := runChild(t, tmp, seed, *flagDuration, m.Name)
		if rep.Failed() {
			o.seed, o.first = seed, rep.Anomalies[0]
			for range *flagMutantReplays {
				o.replays++
				if runChild(t, tmp, seed, *flagDuration, m.Name).Failed() {
					o.refailed++
				}
			}
			return o
		}
	}
	return o
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

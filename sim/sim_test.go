package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Flags of TestSim (make sim passes them).
var (
	flagSeeds    = flag.Int("sim.seeds", 0, "number of random seeds to run (0: the fixed set and sim/regressions.txt)")
	flagDuration = flag.Duration("sim.duration", 10*time.Second, "virtual duration of each run's faulty phase")
	flagSeed     = flag.Uint64("sim.seed", 0, "run only this seed, in this process (replay)")
	flagWorkers  = flag.Int("sim.workers", 0, "worker processes (0: GOMAXPROCS)")
	flagReport   = flag.String("sim.report", "", "internal: run -sim.seed and write its report here as JSON")
	flagMutant   = flag.String("sim.mutant", "", "internal: enable this planted bug (core/mutants) for -sim.seed")
	flagReplays  = flag.Int("sim.replays", 10, "with -sim.seeds: seeds run a second time to measure how often a seed replays identically")
)

// fixedSeeds are what a plain go test runs, with every regression seed.
var fixedSeeds = []uint64{1, 2, 3}

// TestSim runs randomized fault runs of a 3-node cluster in virtual time
// and checks each history (see Run and Check). Each seed runs in its own
// process (dragonboat's random source is process-wide, and a panic must
// not take the other seeds down), at GOMAXPROCS=1 for the best chance of
// replay; the processes run in parallel.
func TestSim(t *testing.T) {
	if *flagReport != "" {
		rep := runSeed(t, *flagSeed, *flagDuration)
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*flagReport, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if *flagSeed != 0 {
		wall := time.Now()
		rep := runSeed(t, *flagSeed, *flagDuration)
		summarize(t, []*Report{rep}, *flagDuration, time.Since(wall), 1)
		return
	}
	var jobs []simJob
	if *flagSeeds > 0 {
		base := uint64(time.Now().UnixNano())
		for i := range *flagSeeds {
			// Small positive seeds, easy to type in a replay.
			s := (base+uint64(i)*0x9e3779b97f4a7c15)%1_000_000_000 + 1
			jobs = append(jobs, simJob{s, *flagDuration})
		}
	} else {
		for _, s := range fixedSeeds {
			jobs = append(jobs, simJob{s, *flagDuration})
		}
		regs, err := loadRegressions("regressions.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs {
			jobs = append(jobs, simJob{r.seed, r.duration})
		}
	}
	workers := *flagWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(jobs))
	tmp := t.TempDir()
	reports := make([]*Report, len(jobs))
	wall := time.Now()
	inParallel(len(jobs), workers, func(i int) {
		reports[i] = runChild(t, tmp, jobs[i].seed, jobs[i].duration, "")
	})
	elapsed := time.Since(wall)
	replays := ""
	if *flagSeeds > 0 {
		// make sim measures replay; make test's fixed seeds need not run
		// twice.
		replays = measureReplay(t, tmp, jobs, reports, workers)
	}
	summarize(t, reports, *flagDuration, elapsed, workers)
	fmt.Print(replays)
}

// measureReplay runs each failed seed, and the first -sim.replays seeds,
// a second time and reports how many replayed identically (same history
// fingerprint) and whether each failure came back. Go's scheduler and
// dragonboat's internal goroutines are not under the seed's control, so
// replay is a probability, measured here, not a promise.
func measureReplay(t *testing.T, tmp string, jobs []simJob, reports []*Report, workers int) string {
	var pick []int
	for i := range jobs {
		if i < *flagReplays || reports[i].Failed() {
			pick = append(pick, i)
		}
	}
	if len(pick) == 0 {
		return ""
	}
	again := make([]*Report, len(pick))
	_ = os.MkdirAll(filepath.Join(tmp, "replay"), 0o755)
	inParallel(len(pick), workers, func(k int) {
		i := pick[k]
		again[k] = runChild(t, filepath.Join(tmp, "replay"), jobs[i].seed, jobs[i].duration, "")
	})
	var b strings.Builder
	same, failed, refailed := 0, 0, 0
	for k, i := range pick {
		if again[k].Fingerprint == reports[i].Fingerprint && reports[i].Fingerprint != "" {
			same++
		}
		if reports[i].Failed() {
			failed++
			if again[k].Failed() {
				refailed++
			}
		}
	}
	fmt.Fprintf(&b, "replay: %d of %d seeds run twice gave the identical history", same, len(pick))
	if failed > 0 {
		fmt.Fprintf(&b, "; %d of %d failed seeds failed again", refailed, failed)
	}
	b.WriteString("\n")
	return b.String()
}

// inParallel runs f(0) ... f(n-1) on at most workers goroutines.
func inParallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// simJob is one seed to run.
type simJob struct {
	seed     uint64
	duration time.Duration
}

// runSeed runs one seed in a synctest bubble, then checks it.
func runSeed(t *testing.T, seed uint64, d time.Duration) *Report {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var logger *slog.Logger
	if os.Getenv("WHARF_SIM_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if *flagMutant != "" {
		if err := enableMutant(*flagMutant); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Now()
	var res *RunResult
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Minute)
		defer cancel()
		res = Run(ctx, RunConfig{Seed: seed, Duration: d, Logger: logger})
	})
	rep := Check(res)
	rep.Wall = time.Since(wall)
	return rep
}

// runChild runs one seed in a worker process of this test binary.
// workerTimeout bounds one seed's worker process in wall time; a seed
// takes a few seconds.
const workerTimeout = 5 * time.Minute

// mutant, if set, names a planted bug the worker enables.
func runChild(t *testing.T, tmp string, seed uint64, d time.Duration, mutant string) *Report {
	path := filepath.Join(tmp, fmt.Sprintf("report-%d-%s.json", seed, mutant))
	// A run that stops advancing virtual time (a goroutine blocked on
	// something synctest does not count as durably blocked) would hang:
	// the wall-clock limit turns that into a failed seed.
	ctx, cancel := context.WithTimeout(context.Background(), workerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSim$", "-test.count=1", "-test.timeout=0",
		"-sim.seed="+strconv.FormatUint(seed, 10), "-sim.duration="+d.String(), "-sim.report="+path,
		"-sim.mutant="+mutant)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(path)
	rep := &Report{Seed: seed, Duration: d}
	if ctx.Err() != nil {
		err = fmt.Errorf("no report after %v of wall time (hung): %w", workerTimeout, err)
	}
	if rerr == nil {
		rerr = json.Unmarshal(b, rep)
	}
	if rerr != nil || err != nil && len(rep.Anomalies) == 0 {
		rep.Anomalies = append(rep.Anomalies, fmt.Sprintf("worker process: %v%s; output tail:\n%s", err, panicLine(out), tail(out, 40)))
		dir := ResultsDir(seed)
		if os.MkdirAll(dir, 0o755) == nil {
			_ = os.WriteFile(filepath.Join(dir, "worker.log"), out, 0o644)
			rep.Dir = dir
		}
	}
	return rep
}

// panicLine returns ": " and the first panic message in a worker's output,
// or "" if it did not panic.
func panicLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic: ") {
			return ": " + l
		}
	}
	return ""
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// summarize prints the summary of a batch of runs and fails t for each
// failed seed.
func summarize(t *testing.T, reports []*Report, d time.Duration, wall time.Duration, workers int) {
	var virtual time.Duration
	faults := map[string]int{}
	var ops, ok, fail, unknown, resolved, anomalies, deadLettered, expired int
	var failed, inconclusive []*Report
	for _, r := range reports {
		virtual += r.Virtual
		for k, v := range r.Faults {
			faults[k] += v
		}
		ops, ok, fail, unknown, resolved = ops+r.Ops, ok+r.OK, fail+r.Fail, unknown+r.Unknown, resolved+r.Resolved
		anomalies += len(r.Anomalies)
		deadLettered += r.DeadLettered
		expired += r.Expired
		if r.Failed() {
			failed = append(failed, r)
		}
		if len(r.Inconclusive) > 0 {
			inconclusive = append(inconclusive, r)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wharf sim: %d seeds run (%d failed), %d workers\n", len(reports), len(failed), workers)
	fmt.Fprintf(&b, "simulated time: %v in %v wall: %.1f simulated seconds per wall second\n",
		virtual.Round(time.Millisecond), wall.Round(time.Millisecond), virtual.Seconds()/wall.Seconds())
	kinds := make([]string, 0, len(faults))
	total := 0
	for k, v := range faults {
		kinds = append(kinds, k)
		total += v
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "faults injected: %d:", total)
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s=%d", k, faults[k])
	}
	fmt.Fprintf(&b, "\nops: %d (ok %d, fail %d, unknown %d; %d unknown resolved from the replicas)\n", ops, ok, fail, unknown, resolved)
	fmt.Fprintf(&b, "messages moved to a dead-letter queue: %d; expired by retention before the drain: %d\n", deadLettered, expired)
	fmt.Fprintf(&b, "anomalies: %d\n", anomalies)
	for _, r := range inconclusive {
		fmt.Fprintf(&b, "inconclusive (no violation found, check incomplete): seed %d: %s\n", r.Seed, strings.Join(r.Inconclusive, "; "))
	}
	for _, r := range failed {
		fmt.Fprintf(&b, "FAIL seed %d (%v virtual, %v wall):\n", r.Seed, r.Virtual.Round(time.Millisecond), r.Wall.Round(time.Millisecond))
		for i, a := range r.Anomalies {
			if i == 10 {
				fmt.Fprintf(&b, "    ... %d more (see %s)\n", len(r.Anomalies)-i, r.Dir)
				break
			}
			fmt.Fprintf(&b, "    %s\n", strings.ReplaceAll(a, "\n", "\n    "))
		}
		if r.Dir != "" {
			fmt.Fprintf(&b, "  results: %s\n", r.Dir)
		}
		if *flagMutant != "" {
			fmt.Fprintf(&b, "  replay: make sim-mutants MUTANTS=%s SEED=%d MUTANT_DURATION=%v\n", *flagMutant, r.Seed, r.Duration)
		} else {
			fmt.Fprintf(&b, "  replay: make sim SEED=%d DURATION=%v\n", r.Seed, r.Duration)
		}
	}
	fmt.Print(b.String())
	if len(failed) > 0 {
		t.Errorf("%d of %d seeds failed", len(failed), len(reports))
	}
}

// regression is a seed from regressions.txt.
type regression struct {
	seed     uint64
	duration time.Duration
}

// loadRegressions reads the regression seeds: one a line, "<seed>
// [duration] # why"; lines starting with # are ignored (a seed commented
// out waits for a fix in core).
func loadRegressions(path string) ([]regression, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRegressions(f)
}

func parseRegressions(r io.Reader) ([]regression, error) {
	var out []regression
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.Index(s, "#"); i >= 0 {
			s = s[:i]
		}
		fields := strings.Fields(s)
		if len(fields) == 0 {
			continue
		}
		seed, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("regressions line %d: %v", line, err)
		}
		reg := regression{seed: seed, duration: 10 * time.Second}
		if len(fields) > 1 {
			if reg.duration, err = time.ParseDuration(fields[1]); err != nil {
				return nil, fmt.Errorf("regressions line %d: %v", line, err)
			}
		}
		out = append(out, reg)
	}
	return out, sc.Err()
}

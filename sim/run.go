package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	lin "github.com/wharfmq/wharf/linearizability"
	"github.com/wharfmq/wharf/sim/network"
)

// RunConfig is one randomized run.
type RunConfig struct {
	Seed     uint64
	Duration time.Duration // virtual time of the faulty phase; 10 s if 0
	Clients  int           // 4 if 0
	MaxOps   int           // per client; 400 if 0
	Logger   *slog.Logger  // discards if nil
	// Record keeps the network's delivery log in RunResult.NetLog, to
	// find where two runs of a seed part ways (TestDiverge).
	Record bool
}

// settle is how long the healed cluster runs before the drain: every lease
// taken during the run (at most maxVis, on a state machine clock at most
// maxSkew ahead) has expired by then, and so has every message of the
// retention queue (stamped at most maxSkew ahead, judged by a clock at most
// maxSkew behind).
const settle = max(maxSkew+maxVis*time.Second, retentionSeconds*time.Second+2*maxSkew) + 2*time.Second

// drainBudget bounds the drain.
const drainBudget = 90 * time.Second

// RunResult is what a run produced, to be judged by Check outside the
// synctest bubble (porcupine's timeout is virtual inside it).
type RunResult struct {
	Seed     uint64
	Duration time.Duration
	Virtual  time.Duration // virtual time the whole run took
	StartMs  int64         // virtual wall clock when the workload began
	Faults   map[string]int
	Ops      opStats
	History  lin.History
	Replicas []Replica
	// Errors are failures of the run itself: the cluster did not start, a
	// node did not restart, the drain did not finish (liveness).
	Errors []string
	// NetLog is the network's delivery log (RunConfig.Record).
	NetLog []string
}

// Run runs one seed: a cluster, the workload and the faults for the
// duration, then heals, settles, drains and reads every replica. It must
// run inside a synctest bubble.
func Run(ctx context.Context, cfg RunConfig) *RunResult {
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Clients == 0 {
		cfg.Clients = 4
	}
	if cfg.MaxOps == 0 {
		cfg.MaxOps = 400
	}
	start := time.Now()
	res := &RunResult{Seed: cfg.Seed, Duration: cfg.Duration}
	defer func() { res.Virtual = time.Since(start) }()
	// Half the seeds snapshot every few dozen entries, so that log
	// compaction and snapshot transfers to lagging replicas happen.
	var snap uint64
	if cfg.Seed%2 == 0 {
		snap = 20 + cfg.Seed%80
	}
	c, err := Start(ctx, Options{Seed: cfg.Seed, QueueShards: 2, Logger: cfg.Logger, Net: network.Config{Record: cfg.Record}, SnapshotEntries: snap})
	if err != nil {
		res.Errors = append(res.Errors, "start: "+err.Error())
		return res
	}
	w := newWorkload(c, cfg.Seed)
	if err := w.createQueues(ctx); err != nil {
		res.Errors = append(res.Errors, err.Error())
		c.Close()
		return res
	}
	res.StartMs = time.Now().UnixMilli()
	deadline := time.Now().Add(cfg.Duration)
	f := newFaults(c, cfg.Seed)
	var wg sync.WaitGroup
	wg.Go(func() { f.run(ctx, deadline) })
	for i := range cfg.Clients {
		cl := &client{w: w, id: i, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
		wg.Go(func() { cl.run(ctx, cfg.MaxOps, deadline) })
	}
	wg.Wait()
	if err := f.heal(ctx); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.Faults = f.Counts()
	time.Sleep(settle)
	w.rec.MarkDrain()
	if err := w.drain(ctx, drainBudget); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	// Let every replica apply what the drain committed.
	time.Sleep(2 * time.Second)
	res.History = w.rec.History()
	w.mu.Lock()
	res.Ops = w.stats
	w.mu.Unlock()
	c.Close()
	if cfg.Record {
		res.NetLog = c.Net.Log()
	}
	if res.Replicas, err = c.Replicas(); err != nil {
		res.Errors = append(res.Errors, "read replicas: "+err.Error())
	}
	return res
}

// Report is a judged run.
type Report struct {
	Seed     uint64         `json:"seed"`
	Duration time.Duration  `json:"duration"`
	Virtual  time.Duration  `json:"virtual"`
	Wall     time.Duration  `json:"wall"`
	Faults   map[string]int `json:"faults"`
	Ops      int            `json:"ops"`
	OK       int            `json:"ok"`
	Fail     int            `json:"fail"`
	Unknown  int            `json:"unknown"`
	Resolved int            `json:"resolved"`
	// DeadLettered counts messages delivered from a dead-letter queue.
	DeadLettered int `json:"dead_lettered"`
	// Expired counts acknowledged sends the retention period removed.
	Expired   int      `json:"expired"`
	Anomalies []string `json:"anomalies,omitempty"`
	// Inconclusive lists checks that hit their limit (porcupine's
	// timeout): no violation found, but not a full check either.
	Inconclusive []string `json:"inconclusive,omitempty"`
	// Dir holds the history and porcupine's pages of a failed run.
	Dir string `json:"dir,omitempty"`
	// Fingerprint is a hash of the recorded history (every op, its
	// stamps, outcome and output): two runs of a seed that agree on it
	// replayed identically as far as any client could see.
	Fingerprint string `json:"fingerprint"`
}

// Failed reports whether the run found anything.
func (r *Report) Failed() bool { return len(r.Anomalies) > 0 }

// ResultsDir is where a failed seed's files go: $WHARF_SIM_OUT, or
// wharf-sim under the temporary directory, then seed-<n>.
func ResultsDir(seed uint64) string {
	root := os.Getenv("WHARF_SIM_OUT")
	if root == "" {
		root = filepath.Join(os.TempDir(), "wharf-sim")
	}
	return filepath.Join(root, "seed-"+strconv.FormatUint(seed, 10))
}

// Check judges a run: resolves unknown sends from the replicas' own
// record of applied request ids, then runs CheckTotal, CheckStandard,
// CheckFIFO and CheckReplicas. On failure (or with WHARF_SIM_SAVE set) it
// writes the histories (raw and resolved) and porcupine's pages into
// ResultsDir(seed).
func Check(res *RunResult) *Report {
	rep := &Report{Seed: res.Seed, Duration: res.Duration, Virtual: res.Virtual, Faults: res.Faults,
		Ops: len(res.History.Ops), OK: res.Ops.OK, Fail: res.Ops.Fail, Unknown: res.Ops.Unknown}
	for _, e := range res.Errors {
		rep.Anomalies = append(rep.Anomalies, "run: "+e)
	}
	if b, err := json.Marshal(res.History.Ops); err == nil {
		sum := sha256.Sum256(b)
		rep.Fingerprint = hex.EncodeToString(sum[:8])
	}
	dir := ResultsDir(res.Seed)
	opts := lin.Options{Timeout: 20 * time.Second, VisualizeDir: dir}

	applied, known := appliedRequests(res)
	// The replicas' clocks say whether the run stayed inside the
	// deduplication window (it does unless the duration is minutes).
	res.History.WithinDedupWindow = withinDedupWindow(res)
	h := lin.ResolveUnknown(res.History, func(id string) (bool, bool) {
		if applied[id] {
			return true, true
		}
		return false, known
	})
	for _, op := range h.Ops {
		if op.Resolved {
			rep.Resolved++
		}
	}
	if len(h.Ops) > 0 {
		total := lin.CheckTotal(h, opts)
		rep.DeadLettered, rep.Expired = total.Counts.DeadLettered, total.Counts.Expired
		for _, r := range []lin.Result{total, lin.CheckStandard(h, opts), lin.CheckFIFO(h, opts)} {
			rep.add(r)
		}
	}
	var states []lin.ReplicaState
	for _, r := range res.Replicas {
		states = append(states, lin.ReplicaState{Node: r.Node, Shard: r.Shard, AppliedIndex: r.AppliedIndex, Hash: r.Hash})
		if r.Invariants != nil {
			rep.Anomalies = append(rep.Anomalies, fmt.Sprintf("invariants: node %d shard %d at index %d: %v",
				r.Node, r.Shard, r.AppliedIndex, r.Invariants))
		}
	}
	rep.add(lin.CheckReplicas(states))

	if rep.Failed() || os.Getenv("WHARF_SIM_SAVE") != "" {
		rep.Dir = dir
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = res.History.Save(filepath.Join(dir, "history.json"))
			_ = h.Save(filepath.Join(dir, "history-resolved.json"))
			if b, err := json.MarshalIndent(rep, "", " "); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644)
			}
		}
	}
	return rep
}

func (r *Report) add(res lin.Result) {
	if res.Valid && !res.Inconclusive {
		return
	}
	if res.Inconclusive && res.Valid {
		// Not a violation, but worth seeing.
		r.Inconclusive = append(r.Inconclusive, fmt.Sprintf("%s: %v", res.Checker, res.Anomalies))
		return
	}
	for _, a := range res.Anomalies {
		r.Anomalies = append(r.Anomalies, res.Checker+": "+a)
	}
	if res.AnomalyCount > len(res.Anomalies) {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("%s: ... %d more", res.Checker, res.AnomalyCount-len(res.Anomalies)))
	}
	if res.Visualization != "" {
		r.Anomalies = append(r.Anomalies, res.Checker+": visualization "+res.Visualization)
	}
}

// appliedRequests returns the request ids the most advanced replica of
// each queue shard applied, and whether that record is complete: no
// deduplication record can have expired (the state machine clocks stayed
// well inside the window since the workload began).
func appliedRequests(res *RunResult) (map[string]bool, bool) {
	best := map[uint64]Replica{}
	for _, r := range res.Replicas {
		if b, ok := best[r.Shard]; !ok || r.AppliedIndex > b.AppliedIndex {
			best[r.Shard] = r
		}
	}
	applied := map[string]bool{}
	known := withinDedupWindow(res) && len(res.Errors) == 0
	shards := make([]uint64, 0, len(best))
	for s := range best {
		shards = append(shards, s)
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i] < shards[j] })
	for _, s := range shards {
		for id := range best[s].Requests {
			applied[id] = true
		}
	}
	return applied, known
}

// withinDedupWindow reports whether every queue shard's clock stayed well
// inside the deduplication window since the workload began, so that no
// deduplication record can have expired during the run.
func withinDedupWindow(res *RunResult) bool {
	if len(res.Replicas) == 0 {
		return false
	}
	for _, r := range res.Replicas {
		if r.ClockMs-res.StartMs > lin.DedupWindowMs-30_000 {
			return false
		}
	}
	return true
}

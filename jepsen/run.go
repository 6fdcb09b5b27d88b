// Package jepsen is a Jepsen-style test of Wharf: it builds wharfd, runs a
// cluster of real processes on 127.0.0.1 behind TCP proxies it controls,
// drives concurrent clients through the Twirp API while nemeses kill,
// pause, partition, skew, restart and reconfigure the nodes, then heals,
// drains the queues and judges the recorded history with the checkers of
// linearizability/ (shared with the simulator) and a dead-letter checker
// of its own. See README.md.
package jepsen

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wharfmq/wharf/core/mutants"
	lin "github.com/wharfmq/wharf/linearizability"
)

// Options configure a run.
type Options struct {
	Nodes     int           // cluster size: 3 or 5 (1-7)
	TimeLimit time.Duration // how long clients and nemeses run
	Rate      float64       // client ops per second, all clients together
	Clients   int
	Nemeses   []string // kinds from Nemeses; empty: none
	Workloads []string // from Workloads
	// Hold is how long each fault lasts; Quiet the healthy time between.
	Hold, Quiet time.Duration
	OpTimeout   time.Duration
	// Results is the directory of this run's files (created).
	Results string
	// Repo is the module to build wharfd from; Bin, if set, is used instead.
	Repo, Bin string
	// Mutant names a planted bug (core/mutants) to turn on in every node
	// through GO_FAILPOINTS; the binary must come from a failpoint build.
	Mutant string
	// NodeArgs are extra wharfd flags for every node (--snapshot-entries
	// 50 makes restarts go through snapshots).
	NodeArgs []string
	// TLS serves the API over HTTPS (Cluster.EnableTLS).
	TLS bool
	// Auth runs the cluster with authentication on (Cluster.EnableAuth).
	Auth bool
	// PeerAuth is how the nodes authenticate each other on their peer
	// ports: PeerTLS (mutual TLS, the default), PeerKey (a cluster key)
	// or PeerNone (wharfd --insecure).
	PeerAuth string
	Seed     uint64
	Logf     func(format string, args ...any) `json:"-"`
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.Nodes == 0 {
		o.Nodes = 5
	}
	if o.TimeLimit == 0 {
		o.TimeLimit = 4 * time.Minute
	}
	if o.Rate == 0 {
		o.Rate = 40
	}
	if o.Clients == 0 {
		o.Clients = 8
	}
	if len(o.Workloads) == 0 {
		o.Workloads = Workloads
	}
	if o.Hold == 0 {
		o.Hold = 5 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = 4 * time.Second
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 5 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.PeerAuth == "" {
		o.PeerAuth = PeerTLS
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Validate checks names and bounds.
func (o *Options) Validate() error {
	var problems []string
	if o.Nodes < 1 || o.Nodes > 7 {
		problems = append(problems, "nodes must be 1 to 7")
	}
	for _, k := range o.Nemeses {
		if !slices.Contains(Nemeses, k) {
			problems = append(problems, fmt.Sprintf("unknown nemesis %q (known: %s)", k, strings.Join(Nemeses, ", ")))
		}
	}
	for _, w := range o.Workloads {
		if !slices.Contains(Workloads, w) {
			problems = append(problems, fmt.Sprintf("unknown workload %q (known: %s)", w, strings.Join(Workloads, ", ")))
		}
	}
	if o.Mutant != "" {
		found := false
		for _, m := range mutants.All {
			found = found || m.Name == o.Mutant
		}
		if !found {
			problems = append(problems, fmt.Sprintf("unknown mutant %q", o.Mutant))
		}
	}
	if o.PeerAuth != "" && !slices.Contains([]string{PeerTLS, PeerKey, PeerNone}, o.PeerAuth) {
		problems = append(problems, fmt.Sprintf("peer auth must be %s, %s or %s, not %q", PeerTLS, PeerKey, PeerNone, o.PeerAuth))
	}
	if o.Rate <= 0 || o.Clients < 1 {
		problems = append(problems, "rate and clients must be positive")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ParseList splits a comma-separated list; "all" means every name of all,
// "none" or "" nothing.
func ParseList(s string, all []string) []string {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil
	case "all":
		return slices.Clone(all)
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Run runs one test and writes its results; the report says whether the
// history was valid. An error means the test could not run to the end.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Results, 0o755); err != nil {
		return nil, err
	}
	logf := o.Logf
	began := time.Now()
	bin := o.Bin
	if bin == "" {
		tmp, err := os.MkdirTemp("", "wharf-jepsen-bin")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		logf("building wharfd from %s", o.Repo)
		if bin, err = Build(o.Repo, tmp); err != nil {
			return nil, err
		}
	}
	var env []string
	if o.Mutant != "" {
		for _, m := range mutants.All {
			if m.Name == o.Mutant {
				env = append(env, "GO_FAILPOINTS="+m.Failpoint()+"="+mutants.Term)
			}
		}
	}
	dataDir := filepath.Join(o.Results, "cluster")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	c, err := NewCluster(bin, dataDir, o.Nodes, env, logf)
	if err != nil {
		return nil, err
	}
	c.NodeArgs = o.NodeArgs
	c.PeerAuth = o.PeerAuth
	if o.Auth {
		if err := c.EnableAuth(); err != nil {
			return nil, err
		}
	}
	defer func() {
		c.Close()
		// Keep the logs, not the data.
		for _, n := range c.allNodes() {
			os.RemoveAll(n.DataDir)
		}
	}()
	if o.TLS {
		if err := c.EnableTLS(); err != nil {
			return nil, err
		}
		defer os.RemoveAll(c.CertDir) // keys, not results
	}
	logf("starting %d nodes (results in %s)", o.Nodes, o.Results)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	runBegan := time.Now()
	w := newWorkload(c, o.Workloads, o.OpTimeout, runBegan)
	if err := w.setup(ctx); err != nil {
		return nil, err
	}
	nem := &nemesis{c: c, kinds: o.Nemeses, rng: mrand.New(mrand.NewPCG(o.Seed, 7)), began: runBegan,
		hold: o.Hold, quiet: o.Quiet, logf: logf, minNodes: o.Nodes, broken: map[int]bool{}}

	logf("running %v: workloads %v, nemeses %v, %d clients at %.0f ops/s, seed %d",
		o.TimeLimit, o.Workloads, o.Nemeses, o.Clients, o.Rate, o.Seed)
	rctx, cancel := context.WithTimeout(ctx, o.TimeLimit)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(o.Nemeses) > 0 {
			nem.run(rctx)
		}
	}()
	w.run(rctx, o.Clients, o.Rate, o.Seed)
	cancel()
	<-done
	runEnd := time.Since(runBegan)

	logf("healing")
	if err := nem.healAll(ctx); err != nil {
		if crashes := c.Crashes(); len(crashes) > 0 {
			err = fmt.Errorf("%w; crashes: %s", err, strings.Join(crashes, "; "))
		}
		return nil, fmt.Errorf("heal: %w", err)
	}
	if err := settleAndDrain(ctx, w, nem.ClockAhead(), logf); err != nil {
		return nil, err
	}

	h := w.rec.History()
	// The whole history, clock skew included, fits in the deduplication
	// window: two ids for one key are then a violation without log times.
	h.WithinDedupWindow = time.Since(runBegan)+maxSkew < lin.DedupWindowMs*time.Millisecond
	rep := &Report{Dir: o.Results, Options: o, Events: nem.Events(), Timings: w.timings, RunEnd: runEnd,
		Elapsed: time.Since(began), Nodes: c.everID()}
	rep.ProxyAccepted, rep.ProxyIdentified, rep.ProxyHeld = c.Net.Stats()
	rep.Liveness = append(c.Crashes(), nem.Liveness()...)
	logf("checking %d ops", len(h.Ops))
	rep.Results = append(Check(h, o.Workloads, o.Results), w.checkEmpty(ctx))
	rep.Valid = true
	for _, r := range rep.Results {
		rep.Valid = rep.Valid && r.Valid
	}
	if err := rep.Write(h); err != nil {
		return rep, err
	}
	return rep, nil
}

// settleTime is how long the healed cluster runs before the drain: long
// enough for every lease a client took to end on its queue shard's clock,
// or the drain, finding them in flight, stops before they come back and
// they look lost. A lease ends at most maxVisibility after its receive on
// that clock; the clock is the latest time any proposal carried, so a node
// whose clock ran clockAhead ahead of real time leaves it up to that far
// ahead after the heal, standing still until real time catches up. The
// simulator's settle (sim/run.go) allows for its skew the same way.
func settleTime(clockAhead time.Duration) time.Duration {
	return time.Duration(maxVisibility+1)*time.Second + clockAhead
}

// settleAndDrain waits settleTime, then drains every queue.
func settleAndDrain(ctx context.Context, w *workload, clockAhead time.Duration, logf func(string, ...any)) error {
	settle := settleTime(clockAhead)
	if clockAhead > 0 {
		logf("a node's clock ran up to %v ahead: waiting %v for every lease to end on the queues' clocks", clockAhead, settle)
	}
	if !sleepCtx(ctx, settle) {
		return ctx.Err()
	}
	logf("draining")
	return w.drain(ctx, logf)
}

// Check runs every checker that applies to the workloads on h: the
// porcupine models per queue type, the total-queue check over every queue
// (dead-letter pair included), and the dead-letter checker of this package.
func Check(h lin.History, workloads []string, visualizeDir string) []lin.Result {
	opts := lin.Options{Timeout: 2 * time.Minute, VisualizeDir: visualizeDir, MaxOps: 200000}
	has := func(w string) bool { return slices.Contains(workloads, w) }
	var out []lin.Result
	var std, all []string
	if has("total") {
		std = append(std, QueueStd)
		all = append(all, QueueStd)
	}
	if has("dlq") {
		// The standard model knows moves: the message arrives in the
		// dead-letter queue and leaves its source.
		std = append(std, QueueDLQSrc, QueueDLQDead)
		all = append(all, QueueDLQSrc, QueueDLQDead)
	}
	if len(std) > 0 {
		out = append(out, lin.CheckStandard(Filter(h, std...), opts))
	}
	if has("fifo") {
		all = append(all, QueueFIFO)
		out = append(out, lin.CheckFIFO(Filter(h, QueueFIFO), opts))
	}
	if len(all) > 0 {
		out = append(out, lin.CheckTotal(Filter(h, all...), opts))
	}
	if has("dlq") {
		out = append(out, CheckDLQ(Filter(h, QueueDLQSrc, QueueDLQDead), QueueDLQSrc, QueueDLQDead, DLQMaxReceives))
	}
	return out
}

// Filter keeps the ops on the given queues (ids renumbered).
func Filter(h lin.History, queues ...string) lin.History {
	out := lin.History{Queues: map[string]lin.QueueInfo{}, WithinDedupWindow: h.WithinDedupWindow}
	for _, q := range queues {
		if info, ok := h.Queues[q]; ok {
			out.Queues[q] = info
		}
	}
	for _, op := range h.Ops {
		if slices.Contains(queues, op.Queue) {
			op.ID = len(out.Ops)
			out.Ops = append(out.Ops, op)
		}
	}
	return out
}

package bench

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/transport/client"
)

// Main runs the bench command line (wharf-bench and wharf bench): args are
// the arguments after the command's name. It returns the exit code: 0,
// 1 when a run fails, 2 for a usage error.
func Main(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	err := Command(ctx, name, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// ErrUsage marks a mistake in the command line, already reported.
var ErrUsage = errors.New("usage error")

// Command is Main for a caller that reports errors itself: it returns nil
// (also after -h), ErrUsage for a usage error it already printed, or the
// error that made the bench fail.
func Command(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	err := main1(ctx, name, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

type options struct {
	suite      bool
	modes      []string
	peers      []string
	endpoints  string
	nodes      int
	out        string
	jsonOut    bool
	quiet      bool
	pprof      bool
	pprofModes []string
	wharfd     string
	wharfdArgs string
	ca         string
	tls        bool
	keep       bool
	settle     time.Duration
	cfg        map[string]Config
}

func usage(w io.Writer, name string, fs *flag.FlagSet) {
	fmt.Fprintf(w, `usage: %s [run|suite] [flags]
       %s fill --endpoints URLS --queue NAME [--gib N] [--size B]

Runs workloads against a Wharf cluster and, with --peers, against NATS
JetStream and RabbitMQ clusters, alternating the systems per workload.
Without --endpoints it builds wharfd and starts its own cluster on
127.0.0.1 (and of each peer). "run" runs --modes (default work-queue);
"suite" runs every mode (sync-send, async-send, work-queue, fifo, e2e)
unless --modes says otherwise. "fill" sends random text bodies to an
existing queue until --gib GiB are acknowledged (a backlog to measure).

flags:
`, name, name)
	fs.PrintDefaults()
}

func main1(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	var o options
	if len(args) > 0 && args[0] == "fill" {
		return fillMain(ctx, name, args[1:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "suite") {
		o.suite = args[0] == "suite"
		args = args[1:]
	}
	d := DefaultConfig("work-queue")
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr, name, fs) }
	modes := fs.String("modes", "", "comma-separated workloads: sync-send, async-send, work-queue, fifo, e2e (default: work-queue; all for suite)")
	fs.StringVar(&o.endpoints, "endpoints", "", "Wharf API endpoints (comma-separated) of a running cluster; default: start one")
	peers := fs.String("peers", "", "peers to run the same workloads against: nats, rabbitmq (comma-separated)")
	fs.IntVar(&o.nodes, "nodes", 3, "nodes of each cluster the bench starts")
	fs.StringVar(&o.out, "out", "", "directory for report.json, results.txt, comparison.md/.json and plot.html")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON on stdout instead of the tables")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&o.pprof, "pprof", false, "build wharfd with pprof (go build -overlay; the source is not changed) and save each node's CPU profile of --pprof-modes runs in --out")
	pprofModes := fs.String("pprof-modes", "work-queue", "workloads to profile with --pprof")
	fs.StringVar(&o.wharfd, "wharfd", "", "wharfd binary to start (default: go build ./cmd/wharfd of this module)")
	fs.StringVar(&o.wharfdArgs, "wharfd-args", "", "extra flags for every wharfd node, space-separated")
	fs.StringVar(&o.ca, "ca", os.Getenv(client.EnvCA), "PEM file of the CA that signs the --endpoints' certificates (https://); default $"+client.EnvCA)
	fs.BoolVar(&o.tls, "tls", false, "serve the API of the cluster the bench starts over HTTPS (a CA and node certificates made for the run)")
	fs.BoolVar(&o.keep, "keep", false, "keep the clusters' data and log directories")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "pause before each run after resuming its system's paused processes")
	duration := fs.Duration("duration", d.Duration, "measured time of each run (0: until --count)")
	count := fs.Int64("count", 0, "stop each run after this many measured sends (0: until --duration)")
	warmup := fs.Duration("warmup", d.Warmup, "unmeasured time at the start of each run")
	size := fs.Int("size", d.BodySize, "message body bytes")
	inflight := fs.Int("inflight", d.Inflight, "async-send: messages in flight (one sender each)")
	producers := fs.Int("producers", d.Producers, "work-queue, fifo: producers")
	consumers := fs.Int("consumers", d.Consumers, "work-queue, fifo: consumers")
	outstanding := fs.Int("outstanding", d.Outstanding, "work-queue, fifo, e2e: most messages sent and not yet deleted")
	batch := fs.Int("batch", d.Batch, "most messages per receive (1-10)")
	del := fs.String("delete", "batch", "delete a receive's messages in one request (batch) or one by one (single)")
	groups := fs.Int("groups", d.Groups, "fifo: message groups")
	rate := fs.Float64("rate", 0, "sends per second over all producers (0: as fast as they go; e2e: 50)")
	wait := fs.Duration("wait", d.Wait, "long-poll wait of a receive")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return ErrUsage
	}
	o.modes = splitList(*modes)
	if len(o.modes) == 0 {
		o.modes = []string{"work-queue"}
		if o.suite {
			o.modes = Modes
		}
	}
	o.peers = splitList(*peers)
	o.pprofModes = splitList(*pprofModes)
	for _, p := range o.peers {
		if p != "nats" && p != "rabbitmq" {
			fmt.Fprintf(stderr, "%s: unknown peer %q (nats, rabbitmq)\n", name, p)
			return ErrUsage
		}
	}
	if o.tls && o.endpoints != "" {
		fmt.Fprintf(stderr, "%s: --tls is for the cluster the bench starts; for --endpoints give https:// URLs and --ca\n", name)
		return ErrUsage
	}
	if *del != "batch" && *del != "single" {
		fmt.Fprintf(stderr, "%s: --delete must be batch or single\n", name)
		return ErrUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.cfg = map[string]Config{}
	for _, m := range o.modes {
		c := DefaultConfig(m)
		c.Duration, c.Count, c.Warmup, c.BodySize = *duration, *count, *warmup, *size
		c.Inflight, c.Batch, c.DeleteBatch, c.Groups, c.Wait = *inflight, *batch, *del == "batch", *groups, *wait
		c.Outstanding = *outstanding
		if m != "e2e" || set["producers"] {
			c.Producers = *producers
		}
		if m != "e2e" || set["consumers"] {
			c.Consumers = *consumers
		}
		if m != "e2e" || set["rate"] {
			c.Rate = *rate
		}
		if err := c.Validate(); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %v\n", name, m, err)
			return ErrUsage
		}
		o.cfg[m] = c
	}
	return runBench(ctx, o, stdout, stderr)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// system is one target and how to pause it.
type system struct {
	target Target
	stop   func()
}

func runBench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	logf := func(format string, a ...any) {
		if !o.quiet {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
	rep := &Report{Started: time.Now(), Host: hostInfo(), Targets: map[string]string{}}
	tmp, err := os.MkdirTemp("", "wharf-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			logf("kept data and logs in %s", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()

	var systems []system
	defer func() {
		for _, s := range systems {
			s.target.Close()
			if s.stop != nil {
				s.stop()
			}
		}
	}()

	// Wharf.
	var pprofAddrs []string
	if o.endpoints != "" {
		eps, err := ExternalEndpoints(splitList(o.endpoints))
		if err != nil {
			return err
		}
		var ca *x509.CertPool
		if o.ca != "" {
			if ca, err = client.LoadCA(o.ca); err != nil {
				return fmt.Errorf("--ca: %w", err)
			}
		}
		systems = append(systems, system{target: NewWharfTarget(eps, nil, ca)})
		rep.Targets["wharf"] = "existing cluster at " + strings.Join(eps, ",")
	} else {
		bin := o.wharfd
		if bin == "" && !o.pprof {
			// bin/wharf bench uses the bin/wharfd built with it.
			if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "wharf" {
				if p := filepath.Join(filepath.Dir(exe), "wharfd"); fileExists(p) {
					bin = p
					logf("using %s", p)
				}
			}
		}
		if bin == "" || o.pprof {
			logf("building wharfd%s", map[bool]string{true: " (with the pprof overlay)"}[o.pprof])
			if bin, err = BuildWharfd(ctx, tmp, o.pprof); err != nil {
				return err
			}
		}
		dir := filepath.Join(tmp, "wharf")
		os.MkdirAll(dir, 0o755)
		logf("starting %d wharfd nodes", o.nodes)
		start := StartWharfCluster
		if o.tls {
			start = StartWharfClusterTLS
		}
		wc, err := start(ctx, bin, dir, o.nodes, o.pprof, strings.Fields(o.wharfdArgs)...)
		if err != nil {
			return err
		}
		pprofAddrs = wc.PprofAddrs
		systems = append(systems, system{target: NewWharfTarget(wc.Endpoints, wc.Procs, wc.CA), stop: wc.Stop})
		rep.Targets["wharf"] = fmt.Sprintf("wharfd of this checkout (%s), %d nodes on 127.0.0.1, replication factor 3, default shards and tuning%s%s; acknowledges after the Raft entry is fsynced on a majority and applied",
			gitDescribe(), o.nodes, map[bool]string{true: ", API over HTTPS"}[o.tls], map[bool]string{true: ", flags: " + o.wharfdArgs}[o.wharfdArgs != ""])
	}

	for _, p := range o.peers {
		switch p {
		case "nats":
			bin, err := lookBin("nats-server")
			if err != nil {
				return err
			}
			dir := filepath.Join(tmp, "nats")
			os.MkdirAll(dir, 0o755)
			logf("starting %d nats-server nodes", o.nodes)
			nc, err := StartNATSCluster(ctx, bin, dir, o.nodes)
			if err != nil {
				return err
			}
			t, err := NewNATSTarget(ctx, nc.URLs, min(3, o.nodes), nc.Procs)
			if err != nil {
				nc.Stop()
				return err
			}
			systems = append(systems, system{target: t, stop: nc.Stop})
			rep.Targets["nats"] = nc.Describe()
		case "rabbitmq":
			dir := filepath.Join(tmp, "rabbitmq")
			os.MkdirAll(dir, 0o755)
			logf("starting %d RabbitMQ nodes (takes a minute)", o.nodes)
			rc, err := StartRabbitCluster(ctx, dir, o.nodes)
			if err != nil {
				return err
			}
			systems = append(systems, system{target: NewRabbitTarget(rc.URLs, min(3, o.nodes), rc.Procs), stop: rc.Stop})
			rep.Targets["rabbitmq"] = rc.Describe()
		}
	}
	for name, desc := range rep.Targets {
		logf("%s: %s", name, desc)
	}

	// Pause every system but the one running, so that idle clusters do
	// not take CPU from the measured one.
	pauseAllBut := func(run Target) {
		for _, s := range systems {
			for _, p := range s.target.Servers() {
				if s.target == run {
					p.Resume()
				} else {
					p.Pause()
				}
			}
		}
	}
	multi := len(systems) > 1

	progress := func(target, mode string, p Point) {
		if o.quiet {
			return
		}
		n := p.Sent
		lat := p.Latency["send"]
		if c := o.cfg[mode]; c.consumes() {
			n, lat = p.Consumed, p.Latency["e2e"]
		}
		fmt.Fprintf(stderr, "  %-8s %-10s %5.0fs %8d msgs/s  p50 %s ms  p99 %s ms  max %s ms\n",
			target, mode, p.T, n, fmtMs(lat.P50), fmtMs(lat.P99), fmtMs(lat.Max))
	}

	var failures []string
	for _, mode := range o.modes {
		cfg := o.cfg[mode]
		for _, s := range systems {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if multi {
				pauseAllBut(s.target)
				time.Sleep(o.settle)
			}
			logf("run %s %s", s.target.Name(), mode)
			var profWG sync.WaitGroup
			if o.pprof && s.target.Name() == "wharf" && contains(o.pprofModes, mode) && o.out != "" {
				profWG.Add(len(pprofAddrs))
				for i, addr := range pprofAddrs {
					go func() {
						defer profWG.Done()
						path := filepath.Join(o.out, "pprof", fmt.Sprintf("wharfd-%d-%s.pb.gz", i+1, mode))
						if err := fetchProfile(ctx, addr, cfg.Warmup, cfg.Duration, path); err != nil {
							logf("pprof node %d: %v", i+1, err)
						} else {
							logf("saved %s", path)
						}
					}()
				}
			}
			res, err := Run(ctx, s.target, cfg, progress)
			profWG.Wait()
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s %s: %v", s.target.Name(), mode, err))
				logf("%s %s failed: %v", s.target.Name(), mode, err)
				if res == nil {
					continue
				}
			}
			rep.Results = append(rep.Results, res)
			if !o.quiet {
				WriteText(stderr, []*Result{res})
			}
		}
	}
	if multi {
		for _, s := range systems {
			for _, p := range s.target.Servers() {
				p.Resume()
			}
		}
	}

	if o.jsonOut {
		rep.WriteJSON(stdout)
	} else {
		fmt.Fprintln(stdout)
		WriteText(stdout, rep.Results)
		if multi {
			fmt.Fprintln(stdout)
			WriteComparison(stdout, Compare(rep.Results))
			fmt.Fprintln(stdout)
			for _, name := range []string{"wharf", "nats", "rabbitmq"} {
				if d, ok := rep.Targets[name]; ok {
					fmt.Fprintf(stdout, "- %s: %s\n", name, d)
				}
			}
		}
	}
	if o.out != "" {
		if err := WriteFiles(o.out, rep); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d runs failed: %s", len(failures), strings.Join(failures, "; "))
	}
	return nil
}

// fetchProfile waits delay, then saves a CPU profile of length d from the
// pprof server at addr to path.
func fetchProfile(ctx context.Context, addr string, delay, d time.Duration, path string) error {
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(int(d/time.Second)-1, 1)
	hc := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func hostInfo() map[string]string {
	h := map[string]string{
		"go":    runtime.Version(),
		"cpus":  fmt.Sprint(runtime.NumCPU()),
		"os":    runtime.GOOS + "/" + runtime.GOARCH,
		"wharf": gitDescribe(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// gitDescribe returns the checkout's commit, with "+changes" when the
// tree differs from it, or "unknown".
func gitDescribe() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += "+changes"
	}
	return s
}

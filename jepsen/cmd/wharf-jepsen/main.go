// Command wharf-jepsen runs the Jepsen-style test of Wharf (package
// jepsen) and prints its summary. Exit status: 0 valid, 1 invalid (for
// -mutants: some planted bug went uncaught), 2 the test could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wharfmq/wharf/core/mutants"
	"github.com/wharfmq/wharf/jepsen"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("wharf-jepsen", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wharf-jepsen [flags]\n\nRuns wharfd nodes on 127.0.0.1 under faults and judges the history.\n\nnemeses: %s (or all, none)\nworkloads: %s (or all)\n\n",
			strings.Join(jepsen.Nemeses, ", "), strings.Join(jepsen.Workloads, ", "))
		fs.PrintDefaults()
	}
	var o jepsen.Options
	fs.IntVar(&o.Nodes, "nodes", 5, "cluster size (3 or 5; 1-7)")
	fs.DurationVar(&o.TimeLimit, "time-limit", 4*time.Minute, "how long clients and nemeses run (healing, draining and checking come after)")
	fs.Float64Var(&o.Rate, "rate", 40, "client operations per second, all clients together")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent clients")
	nem := fs.String("nemesis", "all", "comma-separated nemeses to mix")
	wl := fs.String("workload", "all", "comma-separated workloads to mix")
	fs.DurationVar(&o.Hold, "hold", 5*time.Second, "how long each fault lasts")
	fs.DurationVar(&o.Quiet, "quiet", 4*time.Second, "healthy time between faults")
	fs.DurationVar(&o.OpTimeout, "op-timeout", 5*time.Second, "client timeout per operation (then its outcome is unknown)")
	results := fs.String("results", "", "results directory (default jepsen/results/<timestamp>)")
	fs.StringVar(&o.Bin, "bin", "", "wharfd binary to test (default: go build ./cmd/wharfd)")
	fs.StringVar(&o.Repo, "repo", ".", "the Wharf module to build wharfd from")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the clients' and nemeses' choices (0: from the clock)")
	fs.BoolVar(&o.Auth, "auth", false, "authentication on: the nodes start with a bootstrap admin key and the clients sign every request with it")
	fs.StringVar(&o.PeerAuth, "peer-auth", jepsen.PeerTLS, "how the nodes authenticate each other on their peer ports: tls (mutual TLS, a CA made for the run), key (a cluster key) or none (--insecure)")
	nodeArgs := fs.String("wharfd-args", "", `extra flags for every wharfd, space-separated (e.g. "--snapshot-entries 50")`)
	muts := fs.String("mutants", "", "planted bugs (core/mutants) to run one after another, each in a failpoint build: comma-separated names or all; the run reports which the checkers caught")
	minCaught := fs.Int("min-caught", 3, "with -mutants: exit 0 when at least this many planted bugs were caught")
	quiet := fs.Bool("q", false, "print only the summary")
	fs.BoolVar(&o.TLS, "tls", false, "serve the API over HTTPS and run node-to-node mutual TLS (a CA and node certificate made for the run); clients trust the CA")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	o.Nemeses = jepsen.ParseList(*nem, jepsen.Nemeses)
	o.Workloads = jepsen.ParseList(*wl, jepsen.Workloads)
	if *results == "" {
		*results = filepath.Join("jepsen", "results", time.Now().Format("20060102-150405"))
	}
	o.Results = *results
	o.NodeArgs = strings.Fields(*nodeArgs)
	if !*quiet {
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "wharf-jepsen:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Interrupted, the run cleans up (its nodes are killed) and returns;
	// should it hang, exit anyway: the nodes die with this process
	// (Pdeathsig).
	context.AfterFunc(ctx, func() {
		time.Sleep(30 * time.Second)
		fmt.Fprintln(os.Stderr, "wharf-jepsen: interrupted run did not stop within 30 s; exiting")
		os.Exit(2)
	})

	if *muts != "" {
		return runMutants(ctx, o, *muts, *minCaught)
	}
	rep, err := jepsen.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf-jepsen:", err)
		return 2
	}
	fmt.Print(rep.Summary())
	switch {
	case !rep.Valid:
		return 1
	case len(rep.Liveness) > 0:
		return 3
	}
	return 0
}

// runMutants builds wharfd with failpoints once, then runs the test with
// each planted bug on in turn, and prints which runs the checkers judged
// invalid.
func runMutants(ctx context.Context, o jepsen.Options, list string, minCaught int) int {
	var all []string
	for _, m := range mutants.All {
		all = append(all, m.Name)
	}
	names := jepsen.ParseList(list, all)
	base := o.Results
	if err := os.MkdirAll(base, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "wharf-jepsen:", err)
		return 2
	}
	if o.Bin == "" {
		if o.Logf != nil {
			o.Logf("building wharfd with failpoints (from git HEAD, outside the working tree)")
		}
		bin, err := jepsen.BuildMutant(o.Repo, filepath.Join(base, "build"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "wharf-jepsen:", err)
			return 2
		}
		o.Bin = bin
		defer os.RemoveAll(filepath.Join(base, "build", "src"))
	}
	var lines []string
	caught := 0
	for _, name := range names {
		mo := o
		mo.Mutant = name
		mo.Results = filepath.Join(base, name)
		rep, err := jepsen.Run(ctx, mo)
		line := ""
		switch {
		case err != nil:
			line = fmt.Sprintf("%-30s error: %v", name, err)
		case !rep.Valid:
			caught++
			var by []string
			for _, r := range rep.Results {
				if !r.Valid {
					by = append(by, fmt.Sprintf("%s (%d anomalies)", r.Checker, r.AnomalyCount))
				}
			}
			line = fmt.Sprintf("%-30s CAUGHT by %s", name, strings.Join(by, ", "))
		default:
			line = fmt.Sprintf("%-30s not caught", name)
		}
		if rep != nil {
			fmt.Print(rep.Summary())
		}
		fmt.Println(line)
		lines = append(lines, line)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Printf("\nwharf jepsen mutants: %d of %d planted bugs caught\n", caught, len(lines))
	for _, l := range lines {
		fmt.Println("  " + l)
	}
	if caught < minCaught {
		return 1
	}
	return 0
}

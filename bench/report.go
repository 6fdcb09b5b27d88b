package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a bench invocation: every run, in order.
type Report struct {
	Started time.Time         `json:"started"`
	Host    map[string]string `json:"host"`    // machine and versions
	Targets map[string]string `json:"targets"` // target name to its version and settings
	Results []*Result         `json:"results"`
}

// WriteJSON writes r, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// fmtMs formats milliseconds with 3 significant digits or so.
func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func fmtRate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtCPU(r *Result) string {
	if r.ServerCPU < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%% (%.0f µs/msg)", r.ServerCPUPercent, r.ServerCPUPerMsg)
}

// WriteText writes one line per run and op: throughput, latency
// percentiles, errors and CPU, aligned for a terminal.
func WriteText(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tmode\top\tcount\tmsgs/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tserver CPU\tclient CPU s\t")
	for _, r := range results {
		first := true
		for _, op := range ops {
			s, ok := r.Latency[op]
			if !ok {
				continue
			}
			rate, errs, cpu, ccpu := "", "", "", ""
			if first {
				rate, errs, cpu, ccpu = fmtRate(r.Throughput()), fmt.Sprint(r.Errors), fmtCPU(r), fmt.Sprintf("%.1f", r.ClientCPU)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				r.Target, r.Mode, op, s.Count, rate, fmtMs(s.P50), fmtMs(s.P90), fmtMs(s.P99), fmtMs(s.P999), fmtMs(s.Max), errs, cpu, ccpu)
			first = false
		}
		if first {
			fmt.Fprintf(tw, "%s\t%s\t-\t0\t%s\t\t\t\t\t\t%d\t%s\t\t\n", r.Target, r.Mode, fmtRate(r.Throughput()), r.Errors, fmtCPU(r))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s %s: %d errors, first: %s\n", r.Target, r.Mode, r.Errors, r.FirstError)
		}
	}
	return nil
}

// Comparison is the side-by-side view of one workload on every target.
type Comparison struct {
	Mode    string    `json:"mode"`
	Metric  string    `json:"metric"`
	Better  string    `json:"better"` // "higher" or "lower"
	Values  []float64 `json:"values"` // by target, in Targets order; NaN-free: -1 when missing
	Ratios  []float64 `json:"ratios"` // wharf ÷ each other target; 0 when undefined
	Targets []string  `json:"targets"`
}

// Compare builds, for every mode, rows of headline metrics (throughput,
// latency p50 and p99 of the mode's headline op, server CPU per message)
// with the ratio of Wharf's value to each peer's.
func Compare(results []*Result) []Comparison {
	var targets, modes []string
	byKey := map[[2]string]*Result{}
	for _, r := range results {
		if !contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
		if !contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
		byKey[[2]string{r.Target, r.Mode}] = r
	}
	// Wharf first, the peers in the order they ran.
	sort.SliceStable(targets, func(i, j int) bool { return targets[i] == "wharf" && targets[j] != "wharf" })
	var out []Comparison
	for _, mode := range modes {
		var op string
		for _, t := range targets {
			if r := byKey[[2]string{t, mode}]; r != nil {
				op = r.LatencyOp()
			}
		}
		metrics := []struct {
			name, better string
			get          func(*Result) float64
		}{
			{"msgs/s", "higher", (*Result).Throughput},
			{op + " p50 ms", "lower", func(r *Result) float64 { return r.Latency[op].P50 }},
			{op + " p99 ms", "lower", func(r *Result) float64 { return r.Latency[op].P99 }},
			{"server CPU µs/msg", "lower", func(r *Result) float64 {
				if r.ServerCPU < 0 {
					return -1
				}
				return r.ServerCPUPerMsg
			}},
		}
		for _, m := range metrics {
			c := Comparison{Mode: mode, Metric: m.name, Better: m.better, Targets: targets}
			for _, t := range targets {
				v := -1.0
				if r := byKey[[2]string{t, mode}]; r != nil {
					if _, ok := r.Latency[op]; ok || m.name == "msgs/s" || strings.HasPrefix(m.name, "server") {
						v = m.get(r)
					}
				}
				c.Values = append(c.Values, v)
			}
			for i := 1; i < len(targets); i++ {
				ratio := 0.0
				if c.Values[0] > 0 && c.Values[i] > 0 {
					ratio = c.Values[0] / c.Values[i]
				}
				c.Ratios = append(c.Ratios, ratio)
			}
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fmtValue(metric string, v float64) string {
	switch {
	case v < 0:
		return "-"
	case metric == "msgs/s":
		return fmtRate(v)
	case strings.HasPrefix(metric, "server"):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmtMs(v)
	}
}

// WriteComparison writes the comparison as a Markdown table (which also
// reads well on a terminal). Ratios are Wharf's value divided by the
// peer's: above 1 is better for Wharf where higher is better
// (throughput), below 1 where lower is better (latency, CPU).
func WriteComparison(w io.Writer, rows []Comparison) {
	if len(rows) == 0 {
		return
	}
	targets := rows[0].Targets
	fmt.Fprintf(w, "| workload | metric |")
	for _, t := range targets {
		fmt.Fprintf(w, " %s |", t)
	}
	for _, t := range targets[1:] {
		fmt.Fprintf(w, " %s ÷ %s |", targets[0], t)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---:|", 2*len(targets)-1))
	for _, c := range rows {
		fmt.Fprintf(w, "| %s | %s (%s is better) |", c.Mode, c.Metric, c.Better)
		for _, v := range c.Values {
			fmt.Fprintf(w, " %s |", fmtValue(c.Metric, v))
		}
		for _, r := range c.Ratios {
			if r == 0 {
				fmt.Fprintf(w, " - |")
			} else {
				fmt.Fprintf(w, " %.2fx |", r)
			}
		}
		fmt.Fprintln(w)
	}
}

// WriteFiles saves the report under dir: report.json, results.txt (the
// per-run table), comparison.md and comparison.json (when more than one
// target ran) and plot.html.
func WriteFiles(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fill func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write("report.json", rep.WriteJSON); err != nil {
		return err
	}
	if err := write("results.txt", func(w io.Writer) error { return WriteText(w, rep.Results) }); err != nil {
		return err
	}
	rows := Compare(rep.Results)
	if len(rows) > 0 && len(rows[0].Targets) > 1 {
		if err := write("comparison.md", func(w io.Writer) error {
			WriteComparison(w, rows)
			return nil
		}); err != nil {
			return err
		}
		if err := write("comparison.json", func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}); err != nil {
			return err
		}
	}
	return write("plot.html", func(w io.Writer) error { return WritePlot(w, rep) })
}

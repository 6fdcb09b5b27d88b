package jepsen

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	lin "github.com/wharfmq/wharf/linearizability"
)

// Report is a run's outcome and where its files are.
type Report struct {
	Dir     string        `json:"dir"`
	Options Options       `json:"options"`
	Valid   bool          `json:"valid"`
	Results []lin.Result  `json:"checkers"`
	Events  []Event       `json:"nemesis"`
	Timings []opTiming    `json:"-"`
	RunEnd  time.Duration `json:"run_ns"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Nodes   []int         `json:"nodes"`
	// Liveness lists the times the cluster did not recover by itself
	// (nodes not ready after a restart); the checkers judge safety only.
	Liveness []string `json:"liveness,omitempty"`
	// Proxy connections: accepted, from a node, held on a cut link.
	ProxyAccepted, ProxyIdentified, ProxyHeld int `json:"-"`
	// Files written, by what they hold.
	History, Verdict, Timeline, Latency, Throughput string `json:"-"`
}

// opCounts tallies the run's ops by outcome.
func (r *Report) opCounts() (ok, fail, unknown int) {
	for _, t := range r.Timings {
		switch t.Outcome {
		case lin.OutcomeOK:
			ok++
		case lin.OutcomeFail:
			fail++
		default:
			unknown++
		}
	}
	return
}

// NemesisCounts counts the nemesis events by kind.
func (r *Report) NemesisCounts() map[string]int {
	m := map[string]int{}
	for _, e := range r.Events {
		m[e.Kind]++
	}
	return m
}

// Write stores the history, the verdict, the timeline and the plots.
func (r *Report) Write(h lin.History) error {
	r.History = filepath.Join(r.Dir, "history.json")
	r.Verdict = filepath.Join(r.Dir, "verdict.json")
	r.Timeline = filepath.Join(r.Dir, "timeline.json")
	r.Latency = filepath.Join(r.Dir, "latency.html")
	r.Throughput = filepath.Join(r.Dir, "throughput.html")
	if err := h.Save(r.History); err != nil {
		return err
	}
	ok, fail, unknown := r.opCounts()
	verdict := struct {
		Valid    bool           `json:"valid"`
		Checkers []lin.Result   `json:"checkers"`
		Ops      map[string]int `json:"ops"`
		Nemesis  map[string]int `json:"nemesis"`
		Options  Options        `json:"options"`
		Nodes    []int          `json:"nodes"`
		RunSecs  float64        `json:"run_seconds"`
		Liveness []string       `json:"liveness"`
		Events   []Event        `json:"events"`
	}{r.Valid, r.Results, map[string]int{"ok": ok, "fail": fail, "unknown": unknown}, r.NemesisCounts(), r.Options, r.Nodes,
		r.RunEnd.Seconds(), r.Liveness, r.Events}
	if err := writeJSON(r.Verdict, verdict); err != nil {
		return err
	}
	timeline := struct {
		Events []Event    `json:"nemesis"`
		Ops    []opTiming `json:"ops"`
	}{r.Events, r.Timings}
	if err := writeJSON(r.Timeline, timeline); err != nil {
		return err
	}
	if err := os.WriteFile(r.Latency, []byte(r.latencyHTML()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(r.Throughput, []byte(r.throughputHTML()), 0o644)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Summary is what a run prints at its end.
func (r *Report) Summary() string {
	var b strings.Builder
	ok, fail, unknown := r.opCounts()
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(&b, "wharf jepsen: %s\n", verdict)
	mut := ""
	if r.Options.Mutant != "" {
		mut = ", planted bug " + r.Options.Mutant
	}
	fmt.Fprintf(&b, "run: %d nodes (ids used: %v), %s of faults and clients, %s in all, seed %d%s\n",
		r.Options.Nodes, r.Nodes, r.RunEnd.Round(time.Second), r.Elapsed.Round(time.Second), r.Options.Seed, mut)
	fmt.Fprintf(&b, "ops: %d (ok %d, fail %d, unknown %d)\n", ok+fail+unknown, ok, fail, unknown)
	counts := r.NemesisCounts()
	var kinds []string
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	errs := 0
	for _, e := range r.Events {
		if e.Err != "" {
			errs++
		}
	}
	fmt.Fprintf(&b, "nemesis: %d events: %s", len(r.Events), strings.Join(parts, " "))
	if errs > 0 {
		fmt.Fprintf(&b, " (%d with errors, see verdict.json)", errs)
	}
	b.WriteString("\n")
	for _, l := range r.Liveness {
		fmt.Fprintf(&b, "liveness problem: %s\n", l)
	}
	fmt.Fprintf(&b, "proxies: %d node-to-node connections, %d traced to their node through /proc, %d held on cut links\n",
		r.ProxyAccepted, r.ProxyIdentified, r.ProxyHeld)
	for _, res := range r.Results {
		v := "valid"
		if !res.Valid {
			v = "INVALID"
		}
		if res.Inconclusive {
			v += " (inconclusive)"
		}
		c := res.Counts
		switch {
		case c == (lin.Counts{}) && (res.Checker == "standard" || res.Checker == "fifo"):
			fmt.Fprintf(&b, "  %-8s %s (porcupine model: leases, order, deletes, deduplication)\n", res.Checker, v)
		case res.Checker == "empty":
			fmt.Fprintf(&b, "  %-8s %s (every queue counts no message after the drain)\n", res.Checker, v)
		default:
			fmt.Fprintf(&b, "  %-8s %-8s ok=%d lost=%d (prefix %d, middle %d, suffix %d) unexpected=%d duplicated=%d redelivered=%d recovered=%d dead-lettered=%d\n",
				res.Checker, v, c.OK, c.Lost, c.LostPrefix, c.LostMiddle, c.LostSuffix, c.Unexpected, c.Duplicated, c.Redelivered, c.Recovered, c.DeadLettered)
		}
		for i, a := range res.Anomalies {
			if i == 5 {
				fmt.Fprintf(&b, "           ... %d more in verdict.json\n", res.AnomalyCount-5)
				break
			}
			fmt.Fprintf(&b, "           %s\n", a)
		}
	}
	fmt.Fprintf(&b, "history:    %s\nverdict:    %s\nlatency:    %s\nthroughput: %s\n", r.History, r.Verdict, r.Latency, r.Throughput)
	return b.String()
}

// Plots: self-contained HTML pages with inline SVG.

const (
	plotW, plotH       = 1100.0, 420.0
	padL, padR         = 60.0, 20.0
	padT, padB         = 20.0, 40.0
	innerW, innerH     = plotW - padL - padR, plotH - padT - padB
	plotMinLatencyMs   = 1.0
	throughputBucketNs = int64(time.Second)
)

var familyColor = map[string]string{
	"kill": "#e45756", "pause": "#b279a2", "partition": "#4c78a8",
	"member": "#54a24b", "clock": "#f58518", "restart": "#9d9d9d",
}

func family(kind string) string {
	f, _, _ := strings.Cut(kind, "-")
	return f
}

var outcomeColor = map[lin.Outcome]string{lin.OutcomeOK: "#2a9d8f", lin.OutcomeFail: "#d62828", lin.OutcomeUnknown: "#f4a261"}

func (r *Report) span() float64 {
	end := r.RunEnd.Seconds()
	for _, t := range r.Timings {
		end = math.Max(end, t.End.Seconds())
	}
	return math.Max(end, 1)
}

// frame draws the nemesis bands, the axes and the legend.
func (r *Report) frame(b *strings.Builder, title, ylabel string, yticks []float64, ypos func(float64) float64, ylab func(float64) string) {
	span := r.span()
	x := func(s float64) float64 { return padL + s/span*innerW }
	fmt.Fprintf(b, `<h2>%s</h2><svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, html.EscapeString(title), plotW, plotH+40)
	for _, e := range r.Events {
		x0, x1 := x(e.Start.Seconds()), x(e.End.Seconds())
		col := familyColor[family(e.Kind)]
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.18"><title>%s %.1fs-%.1fs: %s</title></rect>`,
			x0, padT, math.Max(x1-x0, 1), innerH, col, html.EscapeString(e.Kind), e.Start.Seconds(), e.End.Seconds(), html.EscapeString(e.Detail))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s" transform="rotate(-90 %.1f %.1f)" font-size="9">%s</text>`,
			x0+9, padT+innerH-4, col, x0+9, padT+innerH-4, html.EscapeString(e.Kind))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`, padL, padT, innerW, innerH)
	for _, v := range yticks {
		y := ypos(v)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+innerW, y, y, padL-4, y+4, ylab(v))
	}
	step := niceStep(span / 10)
	for s := 0.0; s <= span; s += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%gs</text>`, x(s), padT+innerH+14, s)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">time since the run began</text>`, padL+innerW/2, padT+innerH+30)
	fmt.Fprintf(b, `<text x="12" y="%.1f" transform="rotate(-90 12 %.1f)" text-anchor="middle">%s</text>`, padT+innerH/2, padT+innerH/2, ylabel)
	lx := padL
	for _, f := range []string{"kill", "pause", "partition", "member", "clock", "restart"} {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s" fill-opacity="0.4"/><text x="%.1f" y="%.1f">%s</text>`,
			lx, plotH+22, familyColor[f], lx+16, plotH+32, f)
		lx += 90
	}
}

func niceStep(raw float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600} {
		if s >= raw {
			return s
		}
	}
	return 1200
}

func page(title, body string) string {
	return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>` + html.EscapeString(title) +
		`</title></head><body style="font-family:sans-serif">` + body + `</body></html>`
}

func (r *Report) latencyHTML() string {
	var b strings.Builder
	maxMs := plotMinLatencyMs * 10
	for _, t := range r.Timings {
		maxMs = math.Max(maxMs, float64(t.End-t.Start)/1e6)
	}
	lo, hi := math.Log10(plotMinLatencyMs), math.Log10(maxMs)
	ypos := func(ms float64) float64 {
		v := (math.Log10(math.Max(ms, plotMinLatencyMs)) - lo) / (hi - lo)
		return padT + innerH - v*innerH
	}
	var ticks []float64
	for v := plotMinLatencyMs; v <= maxMs; v *= 10 {
		ticks = append(ticks, v)
	}
	r.frame(&b, "Latency of each operation (log scale), nemesis intervals shaded", "latency (ms)", ticks, ypos,
		func(v float64) string { return fmt.Sprintf("%g", v) })
	span := r.span()
	for _, t := range r.Timings {
		x := padL + t.Start.Seconds()/span*innerW
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="%s" fill-opacity="0.6"/>`, x, ypos(float64(t.End-t.Start)/1e6), outcomeColor[t.Outcome])
	}
	lx := padL + 560
	for _, o := range []lin.Outcome{lin.OutcomeOK, lin.OutcomeFail, lin.OutcomeUnknown} {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`, lx, plotH+28, outcomeColor[o], lx+8, plotH+32, o)
		lx += 80
	}
	b.WriteString("</svg>")
	return page("wharf jepsen latency", b.String()+r.eventTable())
}

func (r *Report) throughputHTML() string {
	var b strings.Builder
	n := int(math.Ceil(r.span()))
	series := map[lin.Outcome][]float64{}
	for _, o := range []lin.Outcome{lin.OutcomeOK, lin.OutcomeFail, lin.OutcomeUnknown} {
		series[o] = make([]float64, n+1)
	}
	maxV := 1.0
	for _, t := range r.Timings {
		i := int(int64(t.End) / throughputBucketNs)
		if i <= n {
			series[t.Outcome][i]++
			maxV = math.Max(maxV, series[t.Outcome][i])
		}
	}
	ypos := func(v float64) float64 { return padT + innerH - v/maxV*innerH }
	var ticks []float64
	step := niceStep(maxV / 5)
	for v := 0.0; v <= maxV; v += step {
		ticks = append(ticks, v)
	}
	r.frame(&b, "Completed operations per second by outcome, nemesis intervals shaded", "ops/s", ticks, ypos,
		func(v float64) string { return fmt.Sprintf("%g", v) })
	span := r.span()
	lx := padL + 560
	for _, o := range []lin.Outcome{lin.OutcomeOK, lin.OutcomeFail, lin.OutcomeUnknown} {
		var pts []string
		for i, v := range series[o] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+(float64(i)+0.5)/span*innerW, ypos(v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, outcomeColor[o], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s</text>`,
			lx, lx+14, plotH+28, plotH+28, outcomeColor[o], lx+18, plotH+32, o)
		lx += 80
	}
	b.WriteString("</svg>")
	return page("wharf jepsen throughput", b.String()+r.eventTable())
}

func (r *Report) eventTable() string {
	var b strings.Builder
	b.WriteString(`<h3>Nemesis events</h3><table border="1" cellspacing="0" cellpadding="3"><tr><th>kind</th><th>start</th><th>end</th><th>what</th><th>error</th></tr>`)
	for _, e := range r.Events {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%.1fs</td><td>%.1fs</td><td>%s</td><td>%s</td></tr>",
			html.EscapeString(e.Kind), e.Start.Seconds(), e.End.Seconds(), html.EscapeString(e.Detail), html.EscapeString(e.Err))
	}
	b.WriteString("</table>")
	return b.String()
}

package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WritePlot writes a self-contained HTML page (inline SVG, no scripts)
// with, for every workload, throughput per second and the headline
// latency's p50 and p99 per second (log scale) of each target over time.
func WritePlot(w io.Writer, rep *Report) error {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>wharf bench</title>
<style>body{font-family:sans-serif;margin:1em 2em}svg{background:#fff;border:1px solid #ccc;margin:0 1em 1em 0}
.legend span{display:inline-block;margin-right:1.5em}.sw{display:inline-block;width:1em;height:.6em;margin-right:.3em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>
<h1>wharf bench</h1>`)
	fmt.Fprintf(&b, "<p>started %s</p>\n", html.EscapeString(rep.Started.Format("2006-01-02 15:04:05 MST")))
	var modes []string
	for _, r := range rep.Results {
		if !contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
	}
	for _, mode := range modes {
		var runs []*Result
		for _, r := range rep.Results {
			if r.Mode == mode {
				runs = append(runs, r)
			}
		}
		op := runs[0].LatencyOp()
		fmt.Fprintf(&b, "<h2>%s</h2>\n<div class=legend>", html.EscapeString(mode))
		for i, r := range runs {
			fmt.Fprintf(&b, `<span><span class=sw style="background:%s"></span>%s: %s msgs/s, %s p50 %s ms, p99 %s ms</span>`,
				color(i), html.EscapeString(r.Target), fmtRate(r.Throughput()), op, fmtMs(r.Latency[op].P50), fmtMs(r.Latency[op].P99))
		}
		b.WriteString("</div>\n")
		var tput, p50, p99 []series
		for i, r := range runs {
			var s1, s2, s3 series
			s1.color, s2.color, s3.color = color(i), color(i), color(i)
			s3.dashed = true
			for _, p := range r.Timeline {
				n := p.Sent
				if r.Config.consumes() {
					n = p.Consumed
				}
				s1.pts = append(s1.pts, [2]float64{p.T, float64(n)})
				if l, ok := p.Latency[op]; ok {
					s2.pts = append(s2.pts, [2]float64{p.T, l.P50})
					s3.pts = append(s3.pts, [2]float64{p.T, l.P99})
				}
			}
			tput, p50, p99 = append(tput, s1), append(p50, s2), append(p99, s3)
		}
		chart(&b, "messages per second", tput, false)
		chart(&b, op+" latency ms per second: p50 solid, p99 dashed (log scale)", append(p50, p99...), true)
	}
	b.WriteString("<h2>All runs</h2><pre>")
	var t strings.Builder
	WriteText(&t, rep.Results)
	b.WriteString(html.EscapeString(t.String()))
	b.WriteString("</pre></body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type series struct {
	color  string
	dashed bool
	pts    [][2]float64
}

func color(i int) string {
	palette := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}
	return palette[i%len(palette)]
}

// chart draws series as lines on a 560x260 plot with axes and a title.
func chart(b *strings.Builder, title string, ss []series, logY bool) {
	const W, H, L, R, T, B = 560.0, 260.0, 60.0, 10.0, 24.0, 30.0
	xmax, ymin, ymax := 1.0, math.Inf(1), 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			xmax = math.Max(xmax, p[0])
			ymax = math.Max(ymax, p[1])
			if p[1] > 0 {
				ymin = math.Min(ymin, p[1])
			}
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	lo, step := 0.0, niceStep(ymax/4)
	hi := step * math.Ceil(ymax/step)
	if logY {
		if math.IsInf(ymin, 1) {
			ymin = ymax / 10
		}
		lo, hi = math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if hi <= lo {
			hi = lo + 1
		}
	}
	x := func(v float64) float64 { return L + (W-L-R)*v/xmax }
	y := func(v float64) float64 {
		if logY {
			v = math.Log10(math.Max(v, math.Pow(10, lo)))
		}
		return H - B - (H-T-B)*(v-lo)/(hi-lo)
	}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-size="11">`, W, H)
	fmt.Fprintf(b, `<text x="%.0f" y="15">%s</text>`, L, html.EscapeString(title))
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#000"/>`, L, H-B, W-R, H-B)
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#000"/>`, L, T, L, H-B)
	// y ticks
	var ticks []float64
	if logY {
		for e := lo; e <= hi; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		for v := 0.0; v <= hi+step/2; v += step {
			ticks = append(ticks, v)
		}
	}
	for _, tv := range ticks {
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`, L, y(tv), W-R, y(tv))
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, L-4, y(tv)+4, tickLabel(tv))
	}
	for i := 0; i <= 4; i++ {
		xv := xmax * float64(i) / 4
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%.0fs</text>`, x(xv), H-B+14, xv)
	}
	for _, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="4,3"`
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`, s.color, dash, strings.Join(pts, " "))
	}
	b.WriteString("</svg>\n")
}

func tickLabel(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%g", math.Round(v*10)/10)
	default:
		return fmt.Sprintf("%g", v)
	}
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceStep(d float64) float64 {
	if d <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= d {
			return m * p
		}
	}
	return 10 * p
}

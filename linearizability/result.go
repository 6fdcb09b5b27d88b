package linearizability

import (
	"fmt"
	"time"
)

// DedupWindowMs is how long Wharf remembers deduplication and request ids.
const DedupWindowMs = 5 * 60 * 1000

// Options bound every check.
type Options struct {
	// Timeout per porcupine check; 0 means DefaultTimeout. A check that
	// times out reports Inconclusive, not a violation.
	Timeout time.Duration
	// VisualizeDir receives porcupine's HTML visualization of a failing
	// check; empty writes none.
	VisualizeDir string
	// MaxOps caps the history a checker accepts; 0 means DefaultMaxOps.
	MaxOps int
	// MaxAnomalies caps Result.Anomalies; 0 means 50.
	MaxAnomalies int
}

const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxOps  = 20000
)

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o Options) maxOps() int {
	if o.MaxOps <= 0 {
		return DefaultMaxOps
	}
	return o.MaxOps
}

func (o Options) maxAnomalies() int {
	if o.MaxAnomalies <= 0 {
		return 50
	}
	return o.MaxAnomalies
}

// Counts are the tallies of CheckTotal (other checkers fill what applies).
type Counts struct {
	OK           int `json:"ok"`          // acknowledged sends delivered
	Lost         int `json:"lost"`        // acknowledged sends never delivered
	LostPrefix   int `json:"lost_prefix"` // ... before the first delivered one, in send order
	LostMiddle   int `json:"lost_middle"`
	LostSuffix   int `json:"lost_suffix"`   // ... after the last delivered one
	Unexpected   int `json:"unexpected"`    // delivered but never sent, or its send failed
	Duplicated   int `json:"duplicated"`    // one logical send stored as several messages
	Redelivered  int `json:"redelivered"`   // messages delivered more than once (legal after a lease)
	DeadLettered int `json:"dead_lettered"` // messages delivered from a dead-letter queue
	Recovered    int `json:"recovered"`     // unknown sends that were delivered
	Purged       int `json:"purged"`        // acknowledged sends a purge may have removed
	Expired      int `json:"expired"`       // acknowledged sends whose retention ran out before the drain
}

// Result is a checker's verdict.
type Result struct {
	Checker string `json:"checker"`
	Valid   bool   `json:"valid"`
	// Inconclusive: the check hit its timeout or the history cap; Valid
	// then only means no violation was found.
	Inconclusive bool     `json:"inconclusive,omitempty"`
	Counts       Counts   `json:"counts"`
	Anomalies    []string `json:"anomalies,omitempty"` // the first MaxAnomalies
	AnomalyCount int      `json:"anomaly_count"`
	// Visualization is the path of porcupine's HTML page, written on failure.
	Visualization string `json:"visualization,omitempty"`
}

func newResult(checker string) Result { return Result{Checker: checker, Valid: true} }

func (r *Result) flag(opts Options, format string, args ...any) {
	r.Valid = false
	r.AnomalyCount++
	if len(r.Anomalies) < opts.maxAnomalies() {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf(format, args...))
	}
}

func (r *Result) String() string {
	s := fmt.Sprintf("%s: valid=%v", r.Checker, r.Valid)
	if r.Inconclusive {
		s += " (inconclusive)"
	}
	s += fmt.Sprintf(" %+v", r.Counts)
	for _, a := range r.Anomalies {
		s += "\n  " + a
	}
	if r.AnomalyCount > len(r.Anomalies) {
		s += fmt.Sprintf("\n  ... %d more", r.AnomalyCount-len(r.Anomalies))
	}
	if r.Visualization != "" {
		s += "\n  visualization: " + r.Visualization
	}
	return s
}

// tooLong guards every checker: an unbounded history is a driver bug.
func tooLong(r *Result, h History, opts Options) bool {
	if len(h.Ops) > opts.maxOps() {
		r.Inconclusive = true
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("history of %d ops exceeds the cap of %d: not checked", len(h.Ops), opts.maxOps()))
		return true
	}
	return false
}

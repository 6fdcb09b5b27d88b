package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Modes are the workloads Run knows.
var Modes = []string{"sync-send", "async-send", "work-queue", "fifo", "e2e"}

// Config is one workload.
type Config struct {
	// Mode is one of Modes:
	//   sync-send:  one sender, one message in flight.
	//   async-send: Inflight senders, so Inflight messages in flight.
	//   work-queue: Producers send and Consumers receive (up to Batch at
	//               a time) and delete, at most Outstanding messages sent
	//               and not yet deleted (a closed loop).
	//   fifo:       work-queue on a FIFO queue over Groups message groups.
	//   e2e:        work-queue with one producer sending Rate messages/s
	//               and one consumer: send-to-receive latency unloaded.
	Mode        string        `json:"mode"`
	Duration    time.Duration `json:"duration_ns"` // measured time; 0: until Count
	Count       int64         `json:"count"`       // messages sent in the measured time (and, for the modes that consume, consumed); 0: until Duration
	Warmup      time.Duration `json:"warmup_ns"`   // run before measuring, not counted
	BodySize    int           `json:"body_size"`
	Inflight    int           `json:"inflight"`
	Producers   int           `json:"producers"`
	Consumers   int           `json:"consumers"`
	Outstanding int           `json:"outstanding"`
	Batch       int           `json:"batch"`        // receive up to this many (1-10)
	DeleteBatch bool          `json:"delete_batch"` // delete a receive's messages in one request
	Groups      int           `json:"groups"`
	Rate        float64       `json:"rate"` // sends per second over all producers; 0: as fast as they go
	Wait        time.Duration `json:"wait_ns"`
	Drain       time.Duration `json:"drain_ns"` // after the measured time, how long consumers may drain
}

// DefaultConfig returns the defaults for mode.
func DefaultConfig(mode string) Config {
	c := Config{
		Mode: mode, Duration: 20 * time.Second, Warmup: 2 * time.Second, BodySize: 256,
		Inflight: 32, Producers: 4, Consumers: 4, Outstanding: 200, Batch: 10,
		DeleteBatch: true, Groups: 100, Wait: time.Second, Drain: 10 * time.Second,
	}
	if mode == "e2e" {
		c.Producers, c.Consumers, c.Rate = 1, 1, 50
	}
	return c
}

// Validate checks c.
func (c Config) Validate() error {
	known := false
	for _, m := range Modes {
		known = known || m == c.Mode
	}
	switch {
	case !known:
		return fmt.Errorf("unknown mode %q (one of %v)", c.Mode, Modes)
	case c.Duration <= 0 && c.Count <= 0:
		return errors.New("set a duration or a count (or both)")
	case c.BodySize < 40:
		return errors.New("body size must be at least 40 bytes (it carries a timestamp and a sequence number)")
	case c.Inflight < 1 || c.Producers < 1 || c.Consumers < 1 || c.Outstanding < 1 || c.Groups < 1:
		return errors.New("inflight, producers, consumers, outstanding and groups must be at least 1")
	case c.Batch < 1 || c.Batch > 10:
		return errors.New("batch must be 1 to 10")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	}
	return nil
}

func (c Config) consumes() bool { return c.Mode == "work-queue" || c.Mode == "fifo" || c.Mode == "e2e" }

// Point is one second of a run's timeline.
type Point struct {
	T        float64            `json:"t"` // seconds since the measured time began, at the window's end
	Sent     int64              `json:"sent"`
	Consumed int64              `json:"consumed"`
	Latency  map[string]Summary `json:"latency"`
}

// Result is a run's outcome.
type Result struct {
	Target      string             `json:"target"`
	Mode        string             `json:"mode"`
	Config      Config             `json:"config"`
	Started     time.Time          `json:"started"`
	Seconds     float64            `json:"seconds"` // measured wall time
	Sent        int64              `json:"sent"`
	Consumed    int64              `json:"consumed"`
	Errors      int64              `json:"errors"`
	FirstError  string             `json:"first_error,omitempty"`
	SendRate    float64            `json:"send_per_s"`
	ConsumeRate float64            `json:"consume_per_s"`
	Latency     map[string]Summary `json:"latency"` // by op: send, receive, delete, e2e
	// ServerCPU is the CPU time (user+system) the target's server
	// processes used in the measured time; -1 when the bench did not
	// start them.
	ServerCPU        float64 `json:"server_cpu_s"`
	ServerCPUPercent float64 `json:"server_cpu_pct"`    // of one core
	ServerCPUPerMsg  float64 `json:"server_cpu_us_msg"` // µs per message (Throughput's)
	ClientCPU        float64 `json:"client_cpu_s"`      // the bench process's own
	Timeline         []Point `json:"timeline"`
}

// Throughput is the run's headline rate: messages consumed per second for
// the modes that consume, else messages sent per second.
func (r *Result) Throughput() float64 {
	if r.Config.consumes() {
		return r.ConsumeRate
	}
	return r.SendRate
}

// LatencyOp is the op whose latency heads the report: e2e for the modes
// that consume, else send.
func (r *Result) LatencyOp() string {
	if r.Config.consumes() {
		return "e2e"
	}
	return "send"
}

// recorder collects latencies and counts from every worker.
type recorder struct {
	mu        sync.Mutex
	measuring bool
	total     map[string]*Histogram
	window    map[string]*Histogram
	sent      int64 // measured
	consumed  int64
	winSent   int64
	winCons   int64
	errors    int64
	firstErr  string
	timeline  []Point
	start     time.Time
}

var ops = []string{"send", "receive", "delete", "e2e"}

func newRecorder() *recorder {
	r := &recorder{total: map[string]*Histogram{}, window: map[string]*Histogram{}}
	for _, op := range ops {
		r.total[op], r.window[op] = NewHistogram(), NewHistogram()
	}
	return r
}

func (r *recorder) record(op string, d time.Duration) {
	r.mu.Lock()
	if r.measuring {
		r.total[op].Record(d)
		r.window[op].Record(d)
	}
	r.mu.Unlock()
}

// add counts n sends or consumptions; it returns the measured sends so far.
func (r *recorder) add(sent, consumed int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.measuring {
		r.sent += sent
		r.winSent += sent
		r.consumed += consumed
		r.winCons += consumed
	}
	return r.sent
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errors++
	if r.firstErr == "" {
		r.firstErr = err.Error()
	}
	r.mu.Unlock()
}

// begin starts the measured time.
func (r *recorder) begin(now time.Time) {
	r.mu.Lock()
	r.measuring, r.start = true, now
	r.mu.Unlock()
}

// tick closes a timeline window.
func (r *recorder) tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuring {
		return
	}
	p := Point{T: now.Sub(r.start).Seconds(), Sent: r.winSent, Consumed: r.winCons, Latency: map[string]Summary{}}
	for _, op := range ops {
		if h := r.window[op]; h.Count() > 0 {
			p.Latency[op] = h.Summary()
			h.Reset()
		}
	}
	r.winSent, r.winCons = 0, 0
	r.timeline = append(r.timeline, p)
}

// end stops the measured time.
func (r *recorder) end(now time.Time) {
	r.tick(now)
	r.mu.Lock()
	r.measuring = false
	r.mu.Unlock()
}

// Body layout: a 19-digit send time in Unix nanoseconds, a space, a
// 12-digit sequence number, a space, then 'x' up to the body size. Text,
// because a Wharf body is a string (valid UTF-8).
func makeBody(size int, seq int64, now time.Time) []byte {
	b := make([]byte, 0, size)
	b = fmt.Appendf(b, "%019d %012d ", now.UnixNano(), seq)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// bodyTime returns the send time in a body made by makeBody.
func bodyTime(b []byte) (time.Time, bool) {
	if len(b) < 19 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(b[:19]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// Progress, when set, is called once a second with the run's timeline so
// far (for a live line on a terminal).
type Progress func(target, mode string, p Point)

// Run runs one workload against target on a new queue, which it deletes
// afterwards.
func Run(ctx context.Context, target Target, cfg Config, progress Progress) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fifo := cfg.Mode == "fifo"
	queue, err := target.CreateQueue(ctx, fmt.Sprintf("bench-%s-%d", cfg.Mode, time.Now().UnixNano()%1e9), fifo)
	if err != nil {
		return nil, fmt.Errorf("%s: create queue: %w", target.Name(), err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		target.DeleteQueue(dctx, queue)
	}()

	senders, receivers := 1, 0
	switch cfg.Mode {
	case "async-send":
		senders = cfg.Inflight
	case "work-queue", "fifo", "e2e":
		senders, receivers = cfg.Producers, cfg.Consumers
	}
	var sessions []Session
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	for i := range senders + receivers {
		s, err := target.NewSession(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("%s: session: %w", target.Name(), err)
		}
		sessions = append(sessions, s)
	}

	rec := newRecorder()
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// tokens bounds the messages sent and not yet deleted (closed loop).
	var tokens chan struct{}
	if receivers > 0 {
		tokens = make(chan struct{}, cfg.Outstanding)
	}
	var seq atomic.Int64
	var wg sync.WaitGroup

	// Senders.
	for i := range senders {
		s := sessions[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var interval time.Duration
			if cfg.Rate > 0 {
				interval = time.Duration(float64(senders) / cfg.Rate * float64(time.Second))
			}
			next := time.Now()
			for !stopped() && ctx.Err() == nil {
				if tokens != nil {
					select {
					case tokens <- struct{}{}:
					case <-stop:
						return
					}
				}
				if interval > 0 {
					next = next.Add(interval)
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-stop:
							return
						}
					}
				}
				n := seq.Add(1)
				group := ""
				if fifo {
					group = "g" + strconv.FormatInt(n%int64(cfg.Groups), 10)
				}
				t0 := time.Now()
				err := s.Send(ctx, queue, makeBody(cfg.BodySize, n, t0), group)
				if err != nil {
					if stopped() || ctx.Err() != nil {
						return
					}
					rec.fail(fmt.Errorf("send: %w", err))
					if tokens != nil {
						<-tokens
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				rec.record("send", time.Since(t0))
				if sent := rec.add(1, 0); cfg.Count > 0 && sent >= cfg.Count {
					halt()
				}
			}
		}()
	}

	// Receivers: they run on after stop to drain, until the queue is
	// empty or drainCtx ends.
	drainCtx, cancelDrain := context.WithCancel(ctx)
	defer cancelDrain()
	var rwg sync.WaitGroup
	for i := range receivers {
		s := sessions[senders+i]
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for drainCtx.Err() == nil {
				if stopped() && len(tokens) == 0 {
					return
				}
				t0 := time.Now()
				msgs, err := s.Receive(drainCtx, queue, cfg.Batch, cfg.Wait)
				if err != nil {
					if drainCtx.Err() != nil {
						return
					}
					rec.fail(fmt.Errorf("receive: %w", err))
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if len(msgs) == 0 {
					if stopped() {
						return
					}
					continue
				}
				now := time.Now()
				rec.record("receive", now.Sub(t0))
				for _, m := range msgs {
					if sent, ok := bodyTime(m.Body); ok {
						rec.record("e2e", now.Sub(sent))
					}
				}
				t1 := time.Now()
				if err := s.Delete(drainCtx, queue, msgs, cfg.DeleteBatch); err != nil {
					if drainCtx.Err() != nil {
						return
					}
					rec.fail(fmt.Errorf("delete: %w", err))
					continue
				}
				rec.record("delete", time.Since(t1))
				rec.add(0, int64(len(msgs)))
				for range msgs {
					select {
					case <-tokens:
					default: // a redelivery: it took no token
					}
				}
			}
		}()
	}

	// The clock: warm up, measure, sample the timeline every second.
	procs := target.Servers()
	var cpu0, self0 time.Duration
	var started time.Time
	warm := time.NewTimer(cfg.Warmup)
	select {
	case <-warm.C:
	case <-stop:
	case <-ctx.Done():
	}
	started = time.Now()
	cpu0, self0 = serversCPU(procs), selfCPU()
	rec.begin(started)
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		deadline = time.After(cfg.Duration)
	}
	ticker := time.NewTicker(time.Second)
	onTick := func(now time.Time) {
		rec.tick(now)
		if progress != nil {
			rec.mu.Lock()
			p := rec.timeline[len(rec.timeline)-1]
			rec.mu.Unlock()
			progress(target.Name(), cfg.Mode, p)
		}
	}
	byCount := false
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-stop:
			byCount = true
			break loop
		case <-ctx.Done():
			break loop
		case now := <-ticker.C:
			onTick(now)
		}
	}
	// A run bounded by count measures until the messages it sent are
	// consumed (or Drain passes, or the duration ends).
	if byCount && tokens != nil {
		drainBy := time.After(cfg.Drain)
		poll := time.NewTicker(5 * time.Millisecond)
	drain:
		for len(tokens) > 0 {
			select {
			case <-poll.C:
			case <-drainBy:
				break drain
			case <-deadline:
				break drain
			case <-ctx.Done():
				break drain
			case now := <-ticker.C:
				onTick(now)
			}
		}
		poll.Stop()
	}
	ticker.Stop()
	ended := time.Now()
	rec.end(ended)
	cpu1, self1 := serversCPU(procs), selfCPU()
	halt()
	wg.Wait()
	time.AfterFunc(cfg.Drain, cancelDrain)
	rwg.Wait()

	secs := ended.Sub(started).Seconds()
	res := &Result{
		Target: target.Name(), Mode: cfg.Mode, Config: cfg, Started: started, Seconds: secs,
		Sent: rec.sent, Consumed: rec.consumed, Errors: rec.errors, FirstError: rec.firstErr,
		SendRate: float64(rec.sent) / secs, ConsumeRate: float64(rec.consumed) / secs,
		Latency: map[string]Summary{}, Timeline: rec.timeline,
		ServerCPU: -1, ClientCPU: (self1 - self0).Seconds(),
	}
	for _, op := range ops {
		if h := rec.total[op]; h.Count() > 0 {
			res.Latency[op] = h.Summary()
		}
	}
	if len(procs) > 0 {
		res.ServerCPU = (cpu1 - cpu0).Seconds()
		res.ServerCPUPercent = 100 * res.ServerCPU / secs
		if n := res.Throughput() * secs; n > 0 {
			res.ServerCPUPerMsg = 1e6 * res.ServerCPU / n
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

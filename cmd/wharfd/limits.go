package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/wharfmq/wharf/transport/limits"
)

// limitsConfig holds the flags of README "Limits".
type limitsConfig struct {
	maxConnections           int
	maxLongPolls             int
	maxLongPollsPerPrincipal int
	rate                     float64
	burst                    int
}

func (c *limitsConfig) register(fs *flag.FlagSet) {
	fs.IntVar(&c.maxConnections, "max-connections", limits.DefaultMaxConnections, "most API connections open at once; past it new ones are closed at once (0: no cap)")
	fs.IntVar(&c.maxLongPolls, "max-long-polls", limits.DefaultMaxLongPolls, "most long polls waiting at once on this node; past it a receive that would wait gets resource_exhausted (0: no cap)")
	fs.IntVar(&c.maxLongPollsPerPrincipal, "max-long-polls-per-principal", limits.DefaultMaxLongPollsPerPrincipal, "most long polls waiting at once per principal (per client IP address when unauthenticated) (0: no cap)")
	fs.Float64Var(&c.rate, "rate-limit", limits.DefaultRate, "requests per second per principal (per client IP address when unauthenticated), a token bucket; past it resource_exhausted (0: no limit)")
	fs.IntVar(&c.burst, "rate-burst", limits.DefaultBurst, "requests a principal may make at once above --rate-limit (0: one second's worth)")
}

// problems lists what is wrong with the limit flags.
func (c *limitsConfig) problems() []string {
	var p []string
	for _, f := range []struct {
		name string
		v    int
	}{{"max-connections", c.maxConnections}, {"max-long-polls", c.maxLongPolls},
		{"max-long-polls-per-principal", c.maxLongPollsPerPrincipal}, {"rate-burst", c.burst}} {
		if f.v < 0 {
			p = append(p, fmt.Sprintf("--%s must be 0 or positive, got %d", f.name, f.v))
		}
	}
	if c.rate < 0 {
		p = append(p, fmt.Sprintf("--rate-limit must be 0 (no limit) or positive, got %v", c.rate))
	}
	return p
}

// apiLimits is what the limit flags put around the API: the connection cap
// on the listener, the long-poll gate for the node, and the middleware
// (client addresses, request rate) for the handler.
type apiLimits struct {
	maxConnections int
	longPolls      *limits.LongPolls
	rate           *limits.RateLimiter
	log            *slog.Logger
}

// newAPILimits builds the limits of c.
func newAPILimits(c limitsConfig, logger *slog.Logger) (*apiLimits, error) {
	lp, err := limits.NewLongPolls(c.maxLongPolls, c.maxLongPollsPerPrincipal)
	if err != nil {
		return nil, err
	}
	rl, err := limits.NewRateLimiter(c.rate, c.burst)
	if err != nil {
		return nil, err
	}
	return &apiLimits{maxConnections: c.maxConnections, longPolls: lp, rate: rl, log: logger}, nil
}

func (a *apiLimits) listener(ln net.Listener) net.Listener {
	return limits.NewListener(ln, a.maxConnections, a.log)
}

func (a *apiLimits) handler(h http.Handler) http.Handler { return limits.Middleware(h, a.rate) }

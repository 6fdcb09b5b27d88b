package limits

import (
	"fmt"
	"sync"
	"time"
)

// maxBuckets bounds the principals (or client addresses) whose buckets are
// remembered at once. Only clients that sent a request within the last
// refill time (burst/rate) need one, so this is reached only by a flood
// from very many addresses; a new client is then refused until buckets are
// forgotten, rather than memory growing without bound.
const maxBuckets = 100000

// RateLimiter is a token bucket per principal: each holds up to burst
// tokens, refilled at rate per second, and a request takes one. A bucket
// that has refilled completely is forgotten, since a new one would be the
// same: memory follows the clients active within the last burst/rate
// seconds.
type RateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// NewRateLimiter returns a limiter of rate requests per second with bursts
// of burst (at least 1) per principal; nil when rate is 0 (no limit).
func NewRateLimiter(rate float64, burst int) (*RateLimiter, error) {
	switch {
	case rate < 0:
		return nil, fmt.Errorf("rate limit must be 0 (off) or positive, got %v", rate)
	case rate == 0:
		return nil, nil
	case burst < 0:
		return nil, fmt.Errorf("rate burst must be 0 (the rate, at least 1) or positive, got %d", burst)
	}
	b := float64(burst)
	if burst == 0 {
		b = max(rate, 1)
	}
	return &RateLimiter{rate: rate, burst: b, now: time.Now, buckets: make(map[string]*bucket)}, nil
}

// refill is the time an empty bucket takes to fill: a bucket untouched for
// that long is full.
func (l *RateLimiter) refill() time.Duration {
	return time.Duration(l.burst / l.rate * float64(time.Second))
}

// Allow takes a token from key's bucket, or refuses with the time until
// one is there.
func (l *RateLimiter) Allow(key string) *Error {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now, false)
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now, true)
		}
		if len(l.buckets) >= maxBuckets {
			return exhausted(time.Second, "too many clients are being rate limited; retry")
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return exhausted(wait, "request rate over the limit of %g per second (bursts of %g); retry in %v",
		l.rate, l.burst, wait.Round(time.Millisecond))
}

// sweep forgets the buckets that have refilled completely, at most once
// per refill time unless forced.
func (l *RateLimiter) sweep(now time.Time, force bool) {
	refill := l.refill()
	if !force && now.Sub(l.swept) < max(refill, time.Second) {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= refill {
			delete(l.buckets, k)
		}
	}
}

// Len is how many buckets are remembered (for tests and status).
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

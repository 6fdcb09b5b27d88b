package client

import (
	"net/http"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
)

const (
	// DefaultAttempts bounds the tries of one call, over all endpoints.
	DefaultAttempts = 4
	// DefaultBackoff and DefaultMaxBackoff shape the pause before each
	// retry: DefaultBackoff doubled per retry, at most DefaultMaxBackoff,
	// jittered so that clients that failed together do not retry together.
	DefaultBackoff    = 50 * time.Millisecond
	DefaultMaxBackoff = time.Second
	// DefaultAttemptTimeout bounds one attempt. A node waits up to 10 s
	// for a proposal to commit; a little more lets it report its own
	// timeout. Receives get their long-poll wait on top.
	DefaultAttemptTimeout = 12 * time.Second
	// maxWait is the longest long poll: a receive that does not say how
	// long it waits may wait this long (the queue's default).
	maxWait = 20 * time.Second
)

// Option configures New.
type Option func(*options)

type options struct {
	httpClient     wharfv1.HTTPClient
	attempts       int
	backoff        time.Duration
	maxBackoff     time.Duration
	attemptTimeout time.Duration
	// credentials sign every request when set (credentials.go).
	credentials sigv4.Credentials
}

func defaultOptions() options {
	return options{
		httpClient:     &http.Client{Timeout: DefaultTimeout},
		attempts:       DefaultAttempts,
		backoff:        DefaultBackoff,
		maxBackoff:     DefaultMaxBackoff,
		attemptTimeout: DefaultAttemptTimeout,
	}
}

// WithHTTPClient sets the HTTP client requests go through. Its timeout, if
// any, must allow for long polls.
func WithHTTPClient(c wharfv1.HTTPClient) Option {
	return func(o *options) { o.httpClient = c }
}

// WithAttempts sets how many times one call may be tried, over all
// endpoints; 1 turns retries off. Values below 1 mean 1.
func WithAttempts(n int) Option {
	return func(o *options) { o.attempts = max(n, 1) }
}

// WithBackoff sets the pause before the first retry and its ceiling; the
// pause doubles with each retry and is jittered down by up to half.
func WithBackoff(first, ceiling time.Duration) Option {
	return func(o *options) { o.backoff, o.maxBackoff = max(first, 0), max(ceiling, first, 0) }
}

// WithAttemptTimeout bounds each attempt (receives get their long-poll
// wait on top); 0 leaves only the caller's context and the HTTP client's
// timeout. An attempt that times out has an unknown outcome, so only
// sends and reads are retried after one.
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) { o.attemptTimeout = max(d, 0) }
}

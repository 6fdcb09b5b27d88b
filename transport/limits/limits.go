// Package limits bounds what one client, and all clients together, can take
// of a node: open API connections (Listener), concurrent long polls per node
// and per principal (LongPolls, which core/node asks before a receive
// waits), and the request rate per principal (RateLimiter, an HTTP
// middleware). A refusal is Twirp resource_exhausted with a retry hint: the
// HTTP Retry-After header (whole seconds) and the Twirp meta retry_after_ms.
//
// A principal is the name auth.PrincipalFrom finds in the request's context;
// a request that carries none (an open node) is keyed by its client's IP
// address, which Middleware puts in the context.
package limits

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
)

// Defaults of wharfd's flags (README "Limits").
const (
	// DefaultMaxConnections bounds open API connections: a connection
	// holds a goroutine and its buffers (tens of KiB), so this is at most a
	// few hundred MiB, and it leaves room for DefaultMaxLongPolls, each of
	// which holds a connection.
	DefaultMaxConnections = 10000
	// DefaultMaxLongPolls bounds the long polls waiting at once on a node;
	// a waiting poll costs a goroutine, a connection and a read of the
	// replica here about once a second.
	DefaultMaxLongPolls = 5000
	// DefaultMaxLongPollsPerPrincipal leaves every principal (or client
	// address) at most half of the node's long polls.
	DefaultMaxLongPollsPerPrincipal = 2500
	// DefaultRate is 0: no request rate limit. The other limits bound what
	// a node spends; a rate is a policy for sharing it, which an operator
	// sets for the principals of a deployment (a benchmark from one host
	// would hit any default).
	DefaultRate  = 0
	DefaultBurst = 0
)

// RetryAfterMeta is the Twirp meta key holding the retry hint, in ms.
const RetryAfterMeta = "retry_after_ms"

// Error refuses a request for lack of a resource: resource_exhausted, with
// the time after which a retry may succeed. core.CodeOf sees its code.
type Error struct {
	err        *core.Error
	retryAfter time.Duration
}

// NewError returns a resource_exhausted refusal with a retry hint.
func NewError(retryAfter time.Duration, format string, args ...any) *Error {
	return exhausted(retryAfter, format, args...)
}

func exhausted(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{err: core.Errorf(core.ResourceExhausted, format, args...), retryAfter: retryAfter}
}

func (e *Error) Error() string { return e.err.Error() }

// Unwrap exposes the *core.Error, so that core.CodeOf and errors.As see
// resource_exhausted.
func (e *Error) Unwrap() error { return e.err }

// RetryAfter is how long the client should wait before trying again.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// Twirp returns the error as Twirp sends it: resource_exhausted with the
// retry_after_ms meta.
func (e *Error) Twirp() twirp.Error {
	return twirp.NewError(twirp.ResourceExhausted, e.Error()).
		WithMeta(RetryAfterMeta, strconv.FormatInt(max(e.retryAfter.Milliseconds(), 1), 10))
}

// RetryAfterSeconds is the Retry-After header value for a hint: whole
// seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}

// write sends e as the response.
func (e *Error) write(w http.ResponseWriter) {
	w.Header().Set("Retry-After", RetryAfterSeconds(e.retryAfter))
	_ = twirp.WriteError(w, e.Twirp())
}

type clientAddrKey struct{}

// withClientAddr returns ctx carrying the client's IP address.
func withClientAddr(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, ip)
}

// ClientKey names whom a request is counted against: "principal:NAME" for
// an authenticated request, "addr:IP" for one from a client whose address
// Middleware recorded, "" when neither is known (a call from inside the
// node).
func ClientKey(ctx context.Context) string {
	if name, ok := auth.PrincipalFrom(ctx); ok {
		return "principal:" + name
	}
	if ip, ok := ctx.Value(clientAddrKey{}).(string); ok && ip != "" {
		return "addr:" + ip
	}
	return ""
}

// remoteIP is the IP address of r's client (the TCP peer; a proxy in front
// makes every client look like the proxy).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// nodeServicePrefix is the path of the node-to-node service, which other
// nodes call, not clients (while it still shares the API port).
const nodeServicePrefix = "/twirp/wharf.node.v1.NodeService/"

// Middleware records the client's address in each request's context (for
// LongPolls) and, when rl is not nil, refuses requests over the rate of
// their principal. The health probes and the node-to-node service pass
// untouched. It must run inside the middleware that authenticates, so that
// it sees the principal.
func Middleware(next http.Handler, rl *RateLimiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || strings.HasPrefix(r.URL.Path, nodeServicePrefix) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := withClientAddr(r.Context(), remoteIP(r))
		if rl != nil {
			if err := rl.Allow(ClientKey(ctx)); err != nil {
				err.write(w)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Package apiauth guards the API port: Handler authenticates every request
// to the public Twirp services by its AWS Signature Version 4 (the access
// keys of core/auth), and Queues, Cluster and Admin wrap the services so
// that each RPC runs only if the request's principal holds the action the
// RPC needs on the queue it names (auth.RPCActions).
//
// Authentication is on once any principal exists. With none, the API is
// open: requests pass unsigned (a signature, if any, is not checked), as
// for a single node used locally.
package apiauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// GuardedPrefix is the path prefix of the services Handler guards: every
// public Twirp service (wharf.v1.QueueService, ClusterService,
// AdminService). Other paths pass untouched: /healthz and /readyz stay
// open, and node-to-node traffic is the peer door's business.
const GuardedPrefix = "/twirp/wharf.v1."

// Source gives the principals and keys requests are checked against;
// *node.Node provides it.
type Source interface {
	AuthDirectory(ctx context.Context) (*auth.Directory, error)
}

// Options tune Handler.
type Options struct {
	// MaxBodyBytes bounds the body read to check its signature; larger
	// requests are refused (invalid_argument). 0 means
	// twirpapi.MaxRequestBytes.
	MaxBodyBytes int64
	// Verifier sets the allowed clock skew (sigv4.DefaultMaxSkew if zero).
	Verifier sigv4.Verifier
	// Now is the clock signatures are checked against; time.Now if nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler returns next guarded: a request under GuardedPrefix runs only if
// authentication is off, or its signature verifies against a valid key;
// its context then carries the principal (auth.PrincipalFrom, and the
// permissions the wrapped services check). A refused request gets Twirp's
// unauthenticated, saying why.
func Handler(next http.Handler, src Source, opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = twirpapi.MaxRequestBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, GuardedPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, err := authenticate(w, r, src, opts)
		if err != nil {
			wharfv1.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate checks r and returns its context with the principal (or
// marked open), or the Twirp error to answer. On success r.Body holds the
// body again.
func authenticate(w http.ResponseWriter, r *http.Request, src Source, opts Options) (context.Context, twirp.Error) {
	ctx := r.Context()
	dir, err := src.AuthDirectory(ctx)
	if err != nil {
		// The metadata shard cannot say who may do what: the request
		// can be retried, elsewhere or later.
		return nil, twirp.NewError(twirpapi.TwirpCode(core.CodeOf(err)), "cannot check the request's signature: "+err.Error())
	}
	if !dir.Enabled() {
		return withAccess(ctx, access{open: true}), nil
	}

	// Parse the header and find the key before reading the body: a
	// stranger cannot make the server buffer a large body.
	parsed, err := opts.Verifier.Parse(r, opts.Now())
	if err != nil {
		return nil, unauthenticated(err)
	}
	key, err := usableKey(ctx, dir, parsed, opts.Logger)
	if err != nil {
		return nil, unauthenticated(err)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, twirp.NewErrorf(twirp.InvalidArgument, "request body too large: the limit is %d bytes", opts.MaxBodyBytes)
		}
		return nil, twirp.NewError(twirp.Malformed, "failed to read request body: "+err.Error())
	}
	if err := parsed.Check(body, key.Secret); err != nil {
		return nil, unauthenticated(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return WithPrincipal(ctx, dir.Principal(key.Principal)), nil
}

// usableKey returns the key parsed names, or a *sigv4.Error saying why it
// cannot sign anything.
func usableKey(ctx context.Context, dir *auth.Directory, parsed *sigv4.Parsed, logger *slog.Logger) (auth.Key, error) {
	key, ok := dir.Key(parsed.AccessKeyID)
	switch {
	case !ok:
		return key, &sigv4.Error{Reason: sigv4.UnknownKey, AccessKeyID: parsed.AccessKeyID, Detail: "no such access key"}
	case key.Revoked:
		return key, &sigv4.Error{Reason: sigv4.UnknownKey, AccessKeyID: parsed.AccessKeyID, Detail: "the key was revoked"}
	case key.Err != nil:
		if logger != nil {
			logger.ErrorContext(ctx, "access key unusable on this node", "access_key_id", key.ID, "err", key.Err)
		}
		return key, &sigv4.Error{Reason: sigv4.UnknownKey, AccessKeyID: parsed.AccessKeyID,
			Detail: "this node cannot open the key's secret (its cluster key differs from the one that sealed it)"}
	}
	return key, nil
}

// Authenticate is Handler's check for another door (the SQS protocol),
// which reads the body itself and answers refusals in its own format. It
// returns ctx ready for the wrapped services (Queues): carrying the
// principal, or marked open when authentication is off (then r is not
// checked at all). A refusal is a *sigv4.Error (its Reason tells missing,
// malformed, unknown key, bad signature, skewed or expired apart); any
// other error means the principals could not be read (core.CodeOf tells
// which, typically unavailable: retry).
func Authenticate(ctx context.Context, r *http.Request, body []byte, src Source, v sigv4.Verifier, now time.Time, logger *slog.Logger) (context.Context, error) {
	dir, err := src.AuthDirectory(ctx)
	if err != nil {
		return nil, err
	}
	if !dir.Enabled() {
		return WithOpen(ctx), nil
	}
	parsed, err := v.Parse(r, now)
	if err != nil {
		return nil, err
	}
	key, err := usableKey(ctx, dir, parsed, logger)
	if err != nil {
		return nil, err
	}
	if err := parsed.Check(body, key.Secret); err != nil {
		return nil, err
	}
	return WithPrincipal(ctx, dir.Principal(key.Principal)), nil
}

func unauthenticated(err error) twirp.Error {
	return twirp.NewError(twirp.Unauthenticated, err.Error())
}

// access is what the wrapped services check: the principal a request was
// authenticated as, or that authentication is off.
type access struct {
	open      bool
	principal *auth.Principal
}

type accessKey struct{}

func withAccess(ctx context.Context, a access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

func accessFrom(ctx context.Context) (access, bool) {
	a, ok := ctx.Value(accessKey{}).(access)
	return a, ok
}

// WithPrincipal returns ctx as Handler leaves it for a request
// authenticated as p: for another door (the SQS protocol) that verified
// the signature itself and calls the wrapped services.
func WithPrincipal(ctx context.Context, p *auth.Principal) context.Context {
	return withAccess(auth.WithPrincipal(ctx, p.Name), access{principal: p})
}

// WithOpen returns ctx as Handler leaves it when authentication is off.
func WithOpen(ctx context.Context) context.Context {
	return withAccess(ctx, access{open: true})
}

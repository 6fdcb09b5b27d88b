package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// outcome says what a failed attempt did to the server's state, which
// decides whether the call may be tried again.
type outcome int

const (
	// final: the server answered, or the caller gave up. Not retried.
	final outcome = iota
	// notProcessed: the request certainly took no effect (the connection
	// was refused, or the server said unavailable). Any call may retry.
	notProcessed
	// unknown: the request may or may not have taken effect (a timeout, a
	// connection lost mid-request). Only calls that are safe to repeat
	// retry.
	unknown
)

// policy is when a call may be retried.
type policy int

const (
	// onlyNotProcessed: the call changes state and repeating it is not
	// harmless (a purge would purge messages sent in between, a receive
	// would lease more messages and hide the first ones for a visibility
	// timeout, a repeated create or delete would report an error for its
	// own first attempt), so it is retried only when the first attempt
	// certainly did nothing.
	onlyNotProcessed policy = iota
	// repeatable: repeating the call is harmless: reads, and sends, which
	// carry request ids the queue deduplicates by.
	repeatable
)

func (p policy) retries(o outcome) bool {
	return o == notProcessed || (o == unknown && p == repeatable)
}

// call runs one RPC with retries. Each attempt goes to the next endpoint,
// round robin from the last one that answered, and gets its own timeout
// (plus extra, for long polls).
func call[Req, Resp any](ctx context.Context, c *client, method string, p policy, extra time.Duration, req Req,
	rpc func(wharfv1.QueueService, context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	if len(c.conns) == 0 {
		return zero, twirp.NewError(twirp.Internal, "wharf client: no endpoints configured")
	}
	start := int(c.preferred.Load())
	var last error
	i := start
	for attempt := 0; attempt < c.opts.attempts; attempt++ {
		if attempt > 0 {
			if err := c.pause(ctx, attempt, retryAfter(last)); err != nil {
				return zero, giveUp(method, attempt, c.urls[i], err, last)
			}
		}
		i = (start + attempt) % len(c.conns)
		resp, err := attemptOne(ctx, c, i, extra, req, rpc)
		if err == nil {
			c.preferred.Store(uint32(i))
			return resp, nil
		}
		err, o := classify(ctx, err)
		if !p.retries(o) {
			if attempt == 0 {
				return zero, err
			}
			return zero, giveUp(method, attempt+1, c.urls[i], err, nil)
		}
		last = err
	}
	return zero, giveUp(method, c.opts.attempts, c.urls[i], last, nil)
}

// attemptOne makes one try against endpoint i, bounded by the per-attempt
// timeout.
func attemptOne[Req, Resp any](ctx context.Context, c *client, i int, extra time.Duration, req Req,
	rpc func(wharfv1.QueueService, context.Context, Req) (Resp, error)) (Resp, error) {
	if c.opts.attemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.attemptTimeout+extra)
		// The generated client has read the whole response when it
		// returns, so canceling here loses nothing.
		defer cancel()
	}
	return rpc(c.conns[i], ctx, req)
}

// pause waits before retry number attempt: the backoff doubled per retry,
// capped, and jittered down by up to half, or the server's hint if longer.
// It returns the caller's context error if the caller gives up meanwhile.
func (c *client) pause(ctx context.Context, attempt int, hint time.Duration) error {
	d := c.opts.backoff
	for i := 1; i < attempt && d < c.opts.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.maxBackoff)
	if d > 0 {
		d -= rand.N(d/2 + 1)
	}
	d = max(d, hint)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxError(ctx.Err())
	}
}

// classify gives a failed attempt a Twirp code that says what the caller
// may do (the generated client reports every transport failure as
// internal) and says whether the request may have taken effect. ctx is the
// caller's context, not the attempt's: when it is done, the caller gave
// up; when only the attempt's is, the attempt timed out.
func classify(ctx context.Context, err error) (error, outcome) {
	if ctx.Err() != nil {
		return twirp.WrapError(ctxError(ctx.Err()), err), final
	}
	var tw twirp.Error
	if errors.As(err, &tw) && tw.Meta("cause") == "" {
		return err, serverOutcome(tw) // the server's (or a proxy's) answer
	}
	var op *net.OpError
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) && ue.Timeout():
		// The attempt timed out: the server may have done the work.
		return twirp.WrapError(twirp.NewError(twirp.DeadlineExceeded, err.Error()), err), unknown
	case errors.As(err, &op) && op.Op == "dial":
		// Never connected, so never processed.
		return twirp.WrapError(twirp.NewError(twirp.Unavailable, err.Error()), err), notProcessed
	case errors.As(err, &ue):
		// Connected, then lost the connection (reset, EOF): the request
		// may have been processed.
		return err, unknown
	default:
		return err, final
	}
}

// serverOutcome reads an error response. Wharf answers unavailable only
// when it did not take the request, and deadline_exceeded when a write may
// have committed. A proxy's 502 or 504 (which Twirp also calls
// unavailable) may come after the server took the request.
func serverOutcome(tw twirp.Error) outcome {
	switch tw.Code() {
	case twirp.Unavailable:
		if tw.Meta("http_error_from_intermediary") == "true" && tw.Meta("status_code") != "503" {
			return unknown
		}
		return notProcessed
	case twirp.DeadlineExceeded:
		return unknown
	case twirp.ResourceExhausted:
		// A node's limit (connections, long polls, request rate) refused
		// the request before doing anything, and said when to retry. A
		// queue's own limit (messages in flight) gives no hint: final.
		if tw.Meta(retryAfterMeta) != "" {
			return notProcessed
		}
		return final
	default:
		return final
	}
}

// retryAfterMeta is the Twirp meta key of a refusal's retry hint, in ms
// (transport/limits).
const retryAfterMeta = "retry_after_ms"

// maxRetryAfter caps the wait a server's hint imposes on one retry.
const maxRetryAfter = 20 * time.Second

// retryAfter is the retry hint err carries; 0 for none.
func retryAfter(err error) time.Duration {
	var tw twirp.Error
	if !errors.As(err, &tw) {
		return 0
	}
	ms, perr := strconv.ParseInt(tw.Meta(retryAfterMeta), 10, 64)
	if perr != nil || ms <= 0 {
		return 0
	}
	return min(time.Duration(ms)*time.Millisecond, maxRetryAfter)
}

// ctxError is the Twirp error for a caller's context that is done.
func ctxError(err error) twirp.Error {
	code := twirp.Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = twirp.DeadlineExceeded
	}
	return twirp.WrapError(twirp.NewError(code, err.Error()), err)
}

// giveUp reports the error that ended a call after attempts tries (the
// last to endpoint), keeping its Twirp code and metadata so that callers
// can act on it. prev, when set, is the last attempt's error: the caller
// gave up while waiting to retry after it.
func giveUp(method string, attempts int, endpoint string, err, prev error) error {
	var tw twirp.Error
	if !errors.As(err, &tw) {
		tw = twirp.InternalErrorWith(err)
	}
	msg := fmt.Sprintf("%s: gave up after %d attempts, the last to %s: %s", method, attempts, endpoint, tw.Msg())
	if prev != nil {
		msg += fmt.Sprintf(" (after the last attempt failed: %v)", prev)
	}
	out := twirp.NewError(tw.Code(), msg)
	for k, v := range tw.MetaMap() {
		out = out.WithMeta(k, v)
	}
	return twirp.WrapError(out, err)
}

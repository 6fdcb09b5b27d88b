package twirpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/transport/limits"
)

// ArgumentMeta is the Twirp meta key naming the field at fault in an
// invalid_argument error.
const ArgumentMeta = "argument"

// TwirpCode maps a core.Code onto the Twirp code a client (or another node)
// sees. The mapping is explicit rather than derived from core.Code.String so
// that a renamed or added core code cannot silently change the wire contract.
func TwirpCode(c core.Code) twirp.ErrorCode {
	switch c {
	case core.InvalidArgument:
		return twirp.InvalidArgument
	case core.NotFound:
		return twirp.NotFound
	case core.AlreadyExists:
		return twirp.AlreadyExists
	case core.FailedPrecondition:
		return twirp.FailedPrecondition
	case core.ResourceExhausted:
		return twirp.ResourceExhausted
	case core.Unavailable:
		return twirp.Unavailable
	case core.DeadlineExceeded:
		return twirp.DeadlineExceeded
	default:
		return twirp.Internal
	}
}

// toTwirp turns an error returned by the service into the twirp.Error sent
// to the client. Errors the client cannot act on (anything that is not a
// *core.Error) are logged here, because the client only sees a generic
// message.
func toTwirp(ctx context.Context, logger *slog.Logger, err error) twirp.Error {
	method, _ := twirp.MethodName(ctx)

	var ce *core.Error
	if errors.As(err, &ce) {
		tw := twirp.NewError(TwirpCode(ce.Code), ce.Error())
		if ce.Code == core.InvalidArgument && ce.Field != "" {
			tw = tw.WithMeta(ArgumentMeta, ce.Field)
		}
		if tw.Code() == twirp.Internal {
			logger.ErrorContext(ctx, "internal error", "method", method, "err", err)
		}
		// A refusal for lack of a resource says when to retry (see
		// transport/limits).
		var hint interface{ RetryAfter() time.Duration }
		if errors.As(err, &hint) {
			tw = tw.WithMeta(limits.RetryAfterMeta, strconv.FormatInt(max(hint.RetryAfter().Milliseconds(), 1), 10))
			_ = twirp.SetHTTPResponseHeader(ctx, "Retry-After", limits.RetryAfterSeconds(hint.RetryAfter()))
		}
		// Keep the original error as the cause for hooks and errors.As.
		return twirp.WrapError(tw, err)
	}

	// A service may already speak Twirp; trust it.
	var tw twirp.Error
	if errors.As(err, &tw) {
		return tw
	}

	// The request's context ended (client went away, or its deadline
	// passed): not a server fault, so not worth an error log line.
	switch {
	case errors.Is(err, context.Canceled):
		return twirp.WrapError(twirp.NewError(twirp.Canceled, "request canceled"), err)
	case errors.Is(err, context.DeadlineExceeded):
		return twirp.WrapError(twirp.NewError(twirp.DeadlineExceeded, "request deadline exceeded"), err)
	}

	logger.ErrorContext(ctx, "internal error", "method", method, "err", err)
	return twirp.WrapError(twirp.InternalError("internal error"), err)
}

// interceptor converts service errors to Twirp errors (toTwirp) and turns a
// panic in the service into an internal error.
func interceptor(logger *slog.Logger) twirp.Interceptor {
	return Interceptor(logger, func(ctx context.Context, err error) twirp.Error { return toTwirp(ctx, logger, err) })
}

// Interceptor converts a service's errors with convert and turns a panic in
// the service into an internal error, logged with its stack. Recovering
// here, rather than relying on net/http, matters because the generated
// Twirp server re-panics after writing its own error response, which makes
// net/http log a second stack trace and drop the connection. The node-to-
// node service uses it too, with its own conversion.
func Interceptor(logger *slog.Logger, convert func(context.Context, error) twirp.Error) twirp.Interceptor {
	return func(next twirp.Method) twirp.Method {
		return func(ctx context.Context, req any) (resp any, err error) {
			defer func() {
				if p := recover(); p != nil {
					method, _ := twirp.MethodName(ctx)
					logger.ErrorContext(ctx, "panic in handler", "method", method,
						"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					resp, err = nil, twirp.InternalError("internal error")
				}
			}()
			resp, err = next(ctx, req)
			if err != nil {
				return nil, convert(ctx, err)
			}
			return resp, nil
		}
	}
}

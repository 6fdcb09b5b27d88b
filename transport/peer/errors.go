package peer

import (
	"context"
	"errors"
	"net"
	"net/url"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// Errors cross the hop as Twirp errors whose code stands for the core.Code
// (one to one), with the field at fault in the "argument" meta, as on the
// client API. The caller gets back the same *core.Error code, which is what
// it acts on: Unavailable means the request was not done (try another node),
// DeadlineExceeded that its outcome is unknown.

// coreCode maps a Twirp code back onto a core.Code. Codes Wharf's server
// does not send for a core.Error come from the Twirp machinery itself.
func coreCode(c twirp.ErrorCode) core.Code {
	switch c {
	case twirp.InvalidArgument:
		return core.InvalidArgument
	case twirp.NotFound:
		return core.NotFound
	case twirp.AlreadyExists:
		return core.AlreadyExists
	case twirp.FailedPrecondition:
		return core.FailedPrecondition
	case twirp.ResourceExhausted:
		return core.ResourceExhausted
	case twirp.Unavailable,
		// No handler for the route (a node without NodeService): nothing
		// was done, another node may serve it.
		twirp.BadRoute:
		return core.Unavailable
	case twirp.DeadlineExceeded,
		// The server's request context ended while it worked on it.
		twirp.Canceled:
		return core.DeadlineExceeded
	default:
		return core.Internal
	}
}

// toTwirp turns an error of the node's NodeService into the Twirp error
// sent back.
func toTwirp(err error) twirp.Error {
	var ce *core.Error
	if errors.As(err, &ce) {
		tw := twirp.NewError(twirpapi.TwirpCode(ce.Code), ce.Msg)
		if ce.Field != "" {
			tw = tw.WithMeta(twirpapi.ArgumentMeta, ce.Field)
		}
		return twirp.WrapError(tw, err)
	}
	var tw twirp.Error
	if errors.As(err, &tw) {
		return tw
	}
	switch {
	case errors.Is(err, context.Canceled):
		return twirp.WrapError(twirp.NewError(twirp.Canceled, err.Error()), err)
	case errors.Is(err, context.DeadlineExceeded):
		return twirp.WrapError(twirp.NewError(twirp.DeadlineExceeded, err.Error()), err)
	}
	return twirp.WrapError(twirp.InternalError(err.Error()), err)
}

// fromTwirp turns what the generated client returned into a *core.Error.
// ctx is the call's context: once it ended, the request may have been sent
// and done, whatever the transport says.
func fromTwirp(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return transportError(ctx, ue)
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client gave up on the call itself (Twirp checks the context
		// around the exchange): the request may have been sent.
		return core.Errorf(core.DeadlineExceeded, "%v; the request may or may not have taken effect", ctx.Err())
	}
	var tw twirp.Error
	if !errors.As(err, &tw) {
		return core.Errorf(core.Internal, "%v", err)
	}
	if tw.Meta("http_error_from_intermediary") != "" && tw.Code() != twirp.BadRoute {
		// Not an answer of a Wharf node: whether the request got to one
		// is unknown.
		return core.Errorf(core.DeadlineExceeded, "%s; the request may or may not have taken effect", tw.Msg())
	}
	code := coreCode(tw.Code())
	return &core.Error{Code: code, Field: tw.Meta(twirpapi.ArgumentMeta), Msg: tw.Msg()}
}

// transportError classifies a failure to exchange the request and its
// answer. Only a failure to connect proves the request was not sent.
func transportError(ctx context.Context, ue *url.Error) error {
	var op *net.OpError
	switch {
	case ctx.Err() != nil:
		return core.Errorf(core.DeadlineExceeded, "%v; the request may or may not have taken effect", ctx.Err())
	case errors.As(ue, &op) && op.Op == "dial":
		return core.Errorf(core.Unavailable, "%v; retry", ue.Err)
	default:
		return core.Errorf(core.DeadlineExceeded, "%v; the request may or may not have taken effect", ue.Err)
	}
}

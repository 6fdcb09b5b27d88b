package peer

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// PathPrefix is where NewHandler's service lives. The handler is the whole
// of the peer port's HTTP server (on peerlink's RPC listener); it must
// never be mounted on the API port.
const PathPrefix = nodev1.NodeServicePathPrefix

// maxRequestBytes bounds a request body: a proposal carries at most a full
// send batch (10 messages of up to 1 MiB) and its framing.
const maxRequestBytes = core.MaxBatchEntries*core.MaxMaximumMessageBytes + 4*core.MiB

// NewHandler serves svc (a node's NodeService) over Twirp.
func NewHandler(svc nodev1.NodeService, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	server := nodev1.NewNodeServiceServer(svc, twirp.WithServerInterceptors(interceptor(logger)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		ctx, cancel := withCallerTimeout(r)
		defer cancel()
		server.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withCallerTimeout gives the request the time the caller has left, so that
// work here stops when the caller stops waiting for it.
func withCallerTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	ms, err := strconv.ParseInt(r.Header.Get(timeoutHeader), 10, 64)
	if err != nil || ms <= 0 {
		return context.WithCancel(r.Context())
	}
	return context.WithTimeout(r.Context(), time.Duration(ms)*time.Millisecond)
}

// interceptor turns the service's errors into Twirp errors that keep their
// core.Code (logging the internal ones), and a panic into an internal error.
func interceptor(logger *slog.Logger) twirp.Interceptor {
	return twirpapi.Interceptor(logger, func(ctx context.Context, err error) twirp.Error {
		tw := toTwirp(err)
		if tw.Code() == twirp.Internal {
			method, _ := twirp.MethodName(ctx)
			logger.ErrorContext(ctx, "internal error in node service", "method", method, "err", err)
		}
		return tw
	})
}

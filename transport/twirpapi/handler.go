// Package twirpapi serves a wharfv1.QueueService over HTTP with Twirp, plus
// the health endpoints an orchestrator probes.
package twirpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// maxRequestBytes bounds a request body: a full batch (10 entries of up to
// 1 MiB each) plus room for attributes, ids and encoding overhead.
const maxRequestBytes = core.MaxBatchEntries*core.MaxMaximumMessageBytes + 2*core.MiB

// NewHandler returns an http.Handler serving svc at the standard Twirp path
// prefix (/twirp/wharf.v1.QueueService/), GET /healthz (200 while the
// process serves) and GET /readyz (200 while ready reports true, else 503).
func NewHandler(svc wharfv1.QueueService, ready func() bool, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	server := wharfv1.NewQueueServiceServer(svc,
		twirp.WithServerInterceptors(interceptor(logger)),
		// Both are already v8's defaults; stated so the JSON shape
		// (proto field names, zero values present) is part of this
		// code, not of a library default.
		twirp.WithServerJSONCamelCaseNames(false),
		twirp.WithServerJSONSkipDefaults(false),
	)

	mux := http.NewServeMux()
	mux.Handle(server.PathPrefix(), limitBody(server, maxRequestBytes))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if isReady(ready, logger) {
			writeText(w, http.StatusOK, "ready")
			return
		}
		writeText(w, http.StatusServiceUnavailable, "not ready")
	})
	return mux
}

// isReady calls ready, treating a panic as not ready: a probe should report
// the problem, not take down the connection.
func isReady(ready func() bool, logger *slog.Logger) (ok bool) {
	if ready == nil {
		return true
	}
	defer func() {
		if p := recover(); p != nil {
			logger.Error("readiness check panicked", "panic", fmt.Sprint(p))
			ok = false
		}
	}()
	return ready()
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body+"\n")
}

// limitBody rejects request bodies larger than limit with a Twirp error that
// says so. Without it, the generated server would report an oversized body
// as an undecodable one.
func limitBody(next http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > limit:
			writeTooLarge(w, limit)
			return
		case r.ContentLength < 0:
			// Unknown length (chunked): read it here, so that running
			// over the limit is reported as such. The body is at most
			// limit bytes.
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					writeTooLarge(w, limit)
					return
				}
				wharfv1.WriteError(w, twirp.NewError(twirp.Malformed, "failed to read request body: "+err.Error()))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		default:
			// net/http already stops at Content-Length; this also
			// makes the server close the connection on overrun.
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	// invalid_argument (HTTP 400) rather than resource_exhausted (429):
	// retrying the same request cannot succeed.
	wharfv1.WriteError(w, twirp.NewErrorf(twirp.InvalidArgument,
		"request body too large: the limit is %d bytes", limit))
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/twitchtv/twirp"
)

const (
	// drainTimeout is how long shutdown waits for in-flight requests. It
	// exceeds the 20 s long poll so that receives waiting for messages
	// finish normally.
	drainTimeout = 25 * time.Second

	// A request has readTimeout to send its body (up to 12 MiB), then the
	// handler runs. net/http starts the write deadline when the headers
	// have been read, so writeTimeout covers reading the body, a 20 s
	// long poll and writing the response.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve serves h on ln until ctx ends, then stops accepting connections and
// waits up to drain for in-flight requests before closing the rest.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger, drain time.Duration) error {
	srv := newHTTPServer(h, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	logger.Info("shutting down: draining in-flight requests", "timeout", drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		logger.Warn("drain did not finish; closing remaining connections", "err", err)
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}

// pprofHandler serves net/http/pprof's pages on a mux of its own, so that
// they are reachable only on --pprof-addr, never on the API address.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves pprofHandler on ln until ctx ends. Profiles are
// diagnostics: a failure is logged, never fatal to the node.
func servePprof(ctx context.Context, ln net.Listener, logger *slog.Logger) {
	srv := &http.Server{
		Handler:           pprofHandler(),
		ReadHeaderTimeout: readHeaderTimeout,
		// No write timeout: a CPU profile or trace runs as long as its
		// ?seconds= asks.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("pprof server stopped", "addr", ln.Addr().String(), "err", err)
	}
}

// swappableHandler serves whichever handler was set last: the stand-in
// while the node starts, then the node's.
type swappableHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swappableHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swappableHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// startingHandler answers while the node starts: /healthz says the process
// serves, everything else (/readyz, the APIs, the node-to-node service) is
// a Twirp unavailable error (HTTP 503), which clients and peers retry
// elsewhere.
func startingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		_ = twirp.WriteError(w, twirp.NewError(twirp.Unavailable, "node is starting; retry"))
	})
}

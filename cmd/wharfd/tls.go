package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// apiTLS loads --tls-cert and --tls-key and adds the pair to reloads. It
// returns the API listener's TLS config, or nil when the flags are not
// given (the API is served over plain HTTP).
func apiTLS(cfg config, reloads *tlsfiles.Reloaders) (*tls.Config, error) {
	if cfg.tlsCert == "" {
		return nil, nil // parseFlags checked that --tls-key is empty too
	}
	pair, err := tlsfiles.LoadPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	reloads.Add(pair)
	return tlsfiles.ServerConfig(pair), nil
}

// apiListener wraps the API listener in TLS when tlsConfig is set, and
// returns the URL scheme clients use: http or https. http.Server serves
// HTTP/2 on a *tls.Conn whose client chose "h2" (ServerConfig offers it),
// HTTP/1.1 otherwise, and answers a plain-HTTP request with a 400 that
// says the server speaks HTTPS.
func apiListener(ln net.Listener, tlsConfig *tls.Config) (net.Listener, string) {
	if tlsConfig == nil {
		return ln, "http"
	}
	return tls.NewListener(ln, tlsConfig), "https"
}

// reloadTLS reloads every TLS file of the node (the API's pair and, with
// node-to-node TLS, the peer port's pair and CA). A file that fails keeps
// what was loaded before, so the node goes on serving the old certificate;
// the error is logged, naming the file.
func reloadTLS(reloads *tlsfiles.Reloaders, logger *slog.Logger) {
	n := reloads.Len()
	if n == 0 {
		logger.Info("SIGHUP: no TLS files to reload")
		return
	}
	if err := reloads.Reload(); err != nil {
		logger.Error("TLS reload failed; serving the certificates loaded before", "err", err)
		return
	}
	logger.Info("TLS files reloaded", "sets", n)
}

// reloadOnHangup calls reloadTLS on every SIGHUP until the returned stop
// is called. Connections already open keep their session: only new
// handshakes see the new files. (Without it, SIGHUP would end wharfd.)
func reloadOnHangup(reloads *tlsfiles.Reloaders, logger *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				reloadTLS(reloads, logger)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

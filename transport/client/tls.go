package client

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// EnvCA names the environment variable holding the PEM file of the CA
// that signs a cluster's API certificates, for command-line tools
// (wharf certs makes one: ca.crt).
const EnvCA = "WHARF_CA"

// LoadCA reads the CA certificates of a PEM file (such as the ca.crt
// wharf certs writes) for WithCA. The error names the file.
func LoadCA(file string) (*x509.CertPool, error) {
	return tlsfiles.LoadCAPool(file)
}

// CAFromEnv loads the CA named by $WHARF_CA. It returns nil and no error
// when the variable is unset or empty: https endpoints are then checked
// against the system's roots.
func CAFromEnv() (*x509.CertPool, error) {
	file := strings.TrimSpace(os.Getenv(EnvCA))
	if file == "" {
		return nil, nil
	}
	pool, err := LoadCA(file)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", EnvCA, err)
	}
	return pool, nil
}

// WithCA makes https:// endpoints trusted when a CA in pool signed their
// certificate (instead of the system's roots); nil changes nothing. It
// replaces the HTTP client with one of its own (HTTP/2 when the server
// offers it, TLS 1.2 or later), so it excludes WithHTTPClient: a caller
// with its own client sets the CA in that client's transport.
func WithCA(pool *x509.CertPool) Option {
	return func(o *options) {
		if pool == nil {
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsfiles.ClientConfig(pool)
		o.httpClient = &http.Client{Transport: tr, Timeout: DefaultTimeout}
	}
}

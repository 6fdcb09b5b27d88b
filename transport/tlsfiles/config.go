package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
)

// ServerConfig is the config of an HTTPS server presenting pair: TLS 1.2
// or later, HTTP/2 and HTTP/1.1 offered through ALPN (for a listener made
// with tls.NewListener, which, unlike http.Server.ServeTLS, adds no
// protocols of its own).
func ServerConfig(pair *Pair) *tls.Config {
	return &tls.Config{
		MinVersion:     MinVersion,
		GetCertificate: pair.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// MutualServerConfig is the config of a server that presents pair and
// accepts only clients presenting a certificate, for client
// authentication, signed by ca (node-to-node mutual TLS). The CA is read
// at each handshake, so ca.Reload applies to the next connection.
func MutualServerConfig(pair *Pair, ca *CA) *tls.Config {
	base := &tls.Config{
		MinVersion:     MinVersion,
		GetCertificate: pair.GetCertificate,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      ca.Pool(),
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = ca.Pool()
		return c, nil
	}
	return base
}

// MutualClientConfig is the config of a client that presents pair to the
// server at addr ("host:port" or a bare host) and accepts only a server
// certificate signed by ca, for server authentication, valid for that
// host (a DNS name or an IP address in its subject alternative names).
//
// Build one per connection: it holds the CA pool in use when it is built,
// so a ca.Reload applies to the next dial. (A shared config cannot check
// the host: for an IP address there is no server name in the handshake
// for a VerifyConnection callback to read.)
func MutualClientConfig(pair *Pair, ca *CA, addr string) *tls.Config {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	return &tls.Config{
		MinVersion:           MinVersion,
		GetClientCertificate: pair.GetClientCertificate,
		RootCAs:              ca.Pool(),
		ServerName:           host,
	}
}

// ClientConfig is the config of an API client that trusts the CAs in
// roots (nil: the system's), TLS 1.2 or later.
func ClientConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{MinVersion: MinVersion, RootCAs: roots}
}

// Mutual is one node's side of node-to-node mutual TLS: its certificate
// and key, and the cluster CA that signs every node's certificate.
type Mutual struct {
	Pair *Pair
	CA   *CA
}

// LoadMutual loads the CA (wharfd --peer-ca) and the node's pair
// (--peer-cert, --peer-key). Errors name the file at fault.
func LoadMutual(caFile, certFile, keyFile string) (*Mutual, error) {
	ca, err := LoadCA(caFile)
	if err != nil {
		return nil, err
	}
	pair, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &Mutual{Pair: pair, CA: ca}, nil
}

// Reload reloads the CA and the pair (a Reloader: add it to the node's
// Reloaders). Each keeps its old contents if its files fail; both are
// tried, and their errors joined.
func (m *Mutual) Reload() error {
	return errors.Join(m.CA.Reload(), m.Pair.Reload())
}

// ServerConfig is MutualServerConfig of the node's pair and CA: for the
// peer listener.
func (m *Mutual) ServerConfig() *tls.Config { return MutualServerConfig(m.Pair, m.CA) }

// ClientConfig is MutualClientConfig of the node's pair and CA for a dial
// to addr: build one per connection.
func (m *Mutual) ClientConfig(addr string) *tls.Config {
	return MutualClientConfig(m.Pair, m.CA, addr)
}

// Package peerlink is the door between Wharf nodes: the peer port (each
// node's Raft address) and the connections dialled to it. Every connection
// opens with a handshake that proves the dialler is a node of the cluster:
// mutual TLS under the cluster CA, or, when TLS is off, a hello signed with
// the cluster key (hello.go). Only then is it handed on, by the kind its
// hello names: Raft connections to the Raft transport (transport/raftnet),
// RPC connections to the HTTP server of NodeService (transport/peer). A
// connection that fails any check is closed at once, before anything is
// allocated for what it would carry.
//
// With neither TLS nor a cluster key (a single node, or wharfd --insecure)
// the hello is still exchanged, so the two kinds can share the port, but it
// authenticates nothing.
package peerlink

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// Kind is what a connection carries.
type Kind byte

const (
	// Raft connections carry raftnet frames.
	Raft Kind = 1
	// RPC connections carry HTTP/1.1 requests of NodeService.
	RPC Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Raft:
		return "raft"
	case RPC:
		return "rpc"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

const (
	// DefaultHandshakeTimeout bounds a connection's handshake (TLS and
	// hello) on both sides: a connection that has not proved itself by
	// then is closed.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultMaxHandshakes bounds the connections in handshake at once;
	// past it new connections are closed unread. Nodes open a few
	// connections per peer, so the bound only bites under a flood.
	DefaultMaxHandshakes = 128

	dialTimeout   = 5 * time.Second
	keepAlive     = 15 * time.Second
	acceptBackoff = 50 * time.Millisecond
	// refuseLogEvery is the least time between two logs of refused
	// connections; the ones in between are counted in the next.
	refuseLogEvery = 10 * time.Second
)

// Options configures a Link.
type Options struct {
	// NodeID is this node's id, sent in hellos for the logs (0 while the
	// node joins and has none yet).
	NodeID uint64
	// TLS, if set, runs mutual TLS on every connection.
	TLS *Credentials
	// ClusterKey, if set and TLS is not, signs and checks every hello.
	ClusterKey []byte
	// HandshakeTimeout and MaxHandshakes: 0 means the defaults.
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	// Logger gets refused connections (rate limited); nil discards.
	Logger *slog.Logger
	// Now is the clock of hellos; time.Now if nil (tests skew it).
	Now func() time.Time
}

// Credentials are a node's mutual TLS material: the cluster CA and the
// node's own certificate. Each handshake takes the ones in force, so a
// reload (SIGHUP in wharfd) applies to the next connection and leaves open
// ones alone.
type Credentials struct {
	ca     func() *x509.CertPool
	cert   func() *tls.Certificate
	reload func() error
}

// LoadCredentials reads the PEM files of --peer-ca, --peer-cert and
// --peer-key; Reload reads them again.
func LoadCredentials(caFile, certFile, keyFile string) (*Credentials, error) {
	m, err := tlsfiles.LoadMutual(caFile, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS: %w", err)
	}
	return &Credentials{ca: m.CA.Pool, cert: m.Pair.Certificate, reload: m.Reload}, nil
}

// NewCredentials returns fixed credentials (tests).
func NewCredentials(ca *x509.CertPool, cert tls.Certificate) *Credentials {
	return &Credentials{
		ca:     func() *x509.CertPool { return ca },
		cert:   func() *tls.Certificate { return &cert },
		reload: func() error { return nil },
	}
}

// Reload reads the files again (a tlsfiles.Reloader); on failure the old
// ones stay in force and the error names the file.
func (c *Credentials) Reload() error { return c.reload() }

// Link holds what both ends of a peer connection need.
type Link struct {
	opts    Options
	key     []byte // the hello key (peerKey of the cluster key); nil: no MAC
	server  *tls.Config
	client  *tls.Config
	nonces  nonceCache
	refused refusals
}

// New checks opts and returns a Link.
func New(opts Options) (*Link, error) {
	if opts.ClusterKey != nil && len(opts.ClusterKey) < 16 {
		return nil, fmt.Errorf("peerlink: cluster key of %d bytes is too short (at least 16)", len(opts.ClusterKey))
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.MaxHandshakes <= 0 {
		opts.MaxHandshakes = DefaultMaxHandshakes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Link{opts: opts}
	l.refused.log = opts.Logger
	if opts.TLS != nil {
		l.server, l.client = tlsConfigs(opts.TLS)
	} else if opts.ClusterKey != nil {
		l.key = peerKey(opts.ClusterKey)
	}
	return l, nil
}

// Authenticated reports whether connections are authenticated (TLS or a
// cluster key).
func (l *Link) Authenticated() bool { return l.server != nil || l.key != nil }

// tlsConfigs returns the server and client TLS settings. Both sides check
// the other's certificate chain against the cluster CA and nothing else: a
// certificate the cluster CA signed is what makes a node a member, so host
// names are not checked (Raft addresses are often IPs, or proxies), nor
// extended key usages (one certificate per node serves both directions).
// That is RequireAndVerifyClientCert's check with any key usage, done in
// VerifyConnection on both ends.
func tlsConfigs(c *Credentials) (server, client *tls.Config) {
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peerlink: the peer sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         c.ca(),
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return fmt.Errorf("peerlink: peer certificate not signed by the cluster CA: %w", err)
		}
		return nil
	}
	server = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cert(), nil },
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: verify,
	}
	client = &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.cert(), nil },
		// The chain is checked by verify, against the cluster CA only.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}
	return server, client
}

// Dial connects to a node's peer address for kind and runs the handshake.
// Every failure is a *net.OpError with Op "dial": nothing was sent on the
// connection but the handshake, so the caller may try elsewhere.
func (l *Link) Dial(ctx context.Context, addr string, kind Kind) (net.Conn, error) {
	fail := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err // already a dial *net.OpError
	}
	deadline := time.Now().Add(l.opts.HandshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := raw.SetDeadline(deadline); err != nil {
		raw.Close()
		return nil, fail(fmt.Errorf("peerlink: set handshake deadline: %w", err))
	}
	c := raw
	if l.client != nil {
		tc := tls.Client(raw, l.client)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fail(fmt.Errorf("peerlink: TLS handshake with %s: %w", addr, err))
		}
		c = tc
	}
	if err := l.greet(c, kind); err != nil {
		raw.Close()
		return nil, fail(fmt.Errorf("peerlink: handshake with %s: %w", addr, err))
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		raw.Close()
		return nil, fail(fmt.Errorf("peerlink: clear handshake deadline: %w", err))
	}
	return c, nil
}

// greet sends the hello and checks the listener's ack.
func (l *Link) greet(c net.Conn, kind Kind) error {
	h := hello{kind: kind, nodeID: l.opts.NodeID, unixMs: l.opts.Now().UnixMilli()}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return fmt.Errorf("nonce: %w", err)
	}
	var b [helloSize]byte
	h.encode(&b, l.key, nil)
	if _, err := c.Write(b[:]); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("read ack (the peer refused the hello, or is not a Wharf peer port): %w", err)
	}
	ack, err := decode(&b)
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if l.key != nil && (!ack.mac || !checkMAC(&b, l.key, h.nonce[:])) {
		return fmt.Errorf("ack: %w", errBadMAC)
	}
	if ack.kind != kind {
		return fmt.Errorf("%w: ack of kind %v for a %v hello", errBadHello, ack.kind, kind)
	}
	return nil
}

// accept runs the listener's side of the handshake on c (its deadline
// set): TLS, then the hello, checked, then the ack. It returns the
// connection to hand on and its kind.
func (l *Link) accept(ctx context.Context, raw net.Conn) (net.Conn, Kind, error) {
	c := raw
	if l.server != nil {
		tc := tls.Server(raw, l.server)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, 0, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	var b [helloSize]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nil, 0, fmt.Errorf("read hello: %w", err)
	}
	h, err := decode(&b)
	if err != nil {
		return nil, 0, err
	}
	now := l.opts.Now()
	if l.key != nil {
		switch {
		case !h.mac:
			return nil, 0, errNoMAC
		case !checkMAC(&b, l.key, nil):
			return nil, 0, errBadMAC
		}
		// Only a hello with a valid MAC gets this far: a stranger
		// cannot fill the nonce cache.
		if err := fresh(h.unixMs, now); err != nil {
			return nil, 0, err
		}
		if err := l.nonces.add(h.nonce, now); err != nil {
			return nil, 0, err
		}
	}
	ack := hello{kind: h.kind, nodeID: l.opts.NodeID, unixMs: now.UnixMilli()}
	if _, err := rand.Read(ack.nonce[:]); err != nil {
		return nil, 0, fmt.Errorf("nonce: %w", err)
	}
	var a [helloSize]byte
	ack.encode(&a, l.key, h.nonce[:])
	if _, err := c.Write(a[:]); err != nil {
		return nil, 0, fmt.Errorf("send ack: %w", err)
	}
	return c, h.kind, nil
}

// refusals logs refused connections at most once per refuseLogEvery.
type refusals struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (r *refusals) note(remote net.Addr, err error) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < refuseLogEvery {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	r.log.Warn("refused a connection on the peer port", "remote", remote.String(), "err", err,
		"refused_since_last_log", n)
}

package peerlink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func newLink(t *testing.T, opts Options) *Link {
	t.Helper()
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func listen(t *testing.T, l *Link) *Listener {
	t.Helper()
	pl, err := l.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

// credentials issues a node certificate of ca.
func credentials(t *testing.T, ca *certgen.Authority, name string) *Credentials {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return NewCredentials(pool, cert)
}

func newCA(t *testing.T, name string) *certgen.Authority {
	t.Helper()
	ca, err := certgen.NewAuthority(name, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// accept returns the next connection of sub, or fails after a while.
func accept(t *testing.T, sub net.Listener) net.Conn {
	t.Helper()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := sub.Accept()
		if err == nil {
			got <- c
		}
	}()
	select {
	case c := <-got:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection handed on")
		return nil
	}
}

// TestDialReachesItsKind checks, in each mode, that a dialled connection
// is handed to the sub-listener of its kind and carries bytes both ways.
func TestDialReachesItsKind(t *testing.T) {
	ca := newCA(t, "cluster")
	modes := map[string]func(name string) Options{
		"open":        func(string) Options { return Options{} },
		"cluster key": func(string) Options { return Options{ClusterKey: testKey} },
		"mutual TLS":  func(name string) Options { return Options{TLS: credentials(t, ca, name)} },
	}
	for name, opts := range modes {
		t.Run(name, func(t *testing.T) {
			server := listen(t, newLink(t, opts("n1")))
			client := newLink(t, opts("n2"))
			for _, kind := range []Kind{Raft, RPC} {
				c, err := client.Dial(ctx(t), server.Addr().String(), kind)
				if err != nil {
					t.Fatalf("dial %v: %v", kind, err)
				}
				defer c.Close()
				sub := server.Raft()
				if kind == RPC {
					sub = server.RPC()
				}
				s := accept(t, sub)
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 4)
				if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
					t.Fatalf("%v: read %q, %v", kind, buf, err)
				}
				if _, err := s.Write([]byte("pong")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
					t.Fatalf("%v: read back %q, %v", kind, buf, err)
				}
			}
		})
	}
}

// refusedQuickly asserts the listener closed c without answering, within
// bound, and handed nothing on.
func refusedQuickly(t *testing.T, pl *Listener, c net.Conn, bound time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(bound))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", bound)
	}
	if n != 0 {
		t.Fatalf("the listener answered %d bytes to a refused hello", n)
	}
	for _, sub := range []net.Listener{pl.Raft(), pl.RPC()} {
		handed := make(chan struct{})
		go func() {
			if c, err := sub.Accept(); err == nil {
				c.Close()
				close(handed)
			}
		}()
		select {
		case <-handed:
			t.Fatal("a refused connection was handed on")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dialRaw(t *testing.T, pl *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// signedHello is a hello as a node with key would send at when.
func signedHello(key []byte, when time.Time, kind Kind) [helloSize]byte {
	h := hello{kind: kind, nodeID: 2, unixMs: when.UnixMilli()}
	rand.Read(h.nonce[:])
	var b [helloSize]byte
	var k []byte
	if key != nil {
		k = peerKey(key)
	}
	h.encode(&b, k, nil)
	return b
}

// TestStrangerClosedAtOnce sends what a stranger could to a node that
// requires the cluster key: each connection is closed unanswered, and none
// reaches Raft or NodeService.
func TestStrangerClosedAtOnce(t *testing.T) {
	garbage := make([]byte, helloSize)
	rand.Read(garbage)
	otherKey := bytes.Repeat([]byte{9}, 32)
	cases := map[string]func() []byte{
		"garbage": func() []byte { return garbage },
		"http request": func() []byte {
			return []byte("POST /twirp/wharf.node.v1.NodeService/Propose HTTP/1.1\r\nHost: x\r\n\r\n" + string(garbage))
		},
		"raft frame":    func() []byte { return append([]byte{'W', 'R', 1, 1, 0x08, 0, 0, 0}, garbage...) },
		"no MAC":        func() []byte { b := signedHello(nil, time.Now(), Raft); return b[:] },
		"bad MAC":       func() []byte { b := signedHello(otherKey, time.Now(), Raft); return b[:] },
		"flipped field": func() []byte { b := signedHello(testKey, time.Now(), Raft); b[5] = byte(RPC); return b[:] },
		"stale clock":   func() []byte { b := signedHello(testKey, time.Now().Add(-time.Minute), RPC); return b[:] },
		"future clock":  func() []byte { b := signedHello(testKey, time.Now().Add(time.Minute), RPC); return b[:] },
	}
	pl := listen(t, newLink(t, Options{ClusterKey: testKey}))
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, pl)
			if _, err := c.Write(msg()); err != nil {
				t.Fatal(err)
			}
			refusedQuickly(t, pl, c, time.Second)
		})
	}
}

// TestReplayedHelloRefused replays a valid hello recorded from a node.
func TestReplayedHelloRefused(t *testing.T) {
	pl := listen(t, newLink(t, Options{ClusterKey: testKey}))
	b := signedHello(testKey, time.Now(), RPC)
	first := dialRaw(t, pl)
	first.Write(b[:])
	accept(t, pl.RPC())
	again := dialRaw(t, pl)
	again.Write(b[:])
	refusedQuickly(t, pl, again, time.Second)
}

// TestSilentConnectionClosedAtDeadline: a connection that sends no hello
// is closed when the handshake time is up.
func TestSilentConnectionClosedAtDeadline(t *testing.T) {
	pl := listen(t, newLink(t, Options{ClusterKey: testKey, HandshakeTimeout: 200 * time.Millisecond}))
	c := dialRaw(t, pl)
	refusedQuickly(t, pl, c, 3*time.Second)
}

// TestHandshakeBound: past MaxHandshakes connections in handshake, a new
// one is closed unread.
func TestHandshakeBound(t *testing.T) {
	pl := listen(t, newLink(t, Options{ClusterKey: testKey, MaxHandshakes: 2, HandshakeTimeout: time.Minute}))
	dialRaw(t, pl)
	dialRaw(t, pl)
	time.Sleep(100 * time.Millisecond) // both taken in
	c := dialRaw(t, pl)
	refusedQuickly(t, pl, c, time.Second)
}

// TestWrongKeyCannotDial: a node with another cluster key (or none) is
// refused, and its Dial fails as a dial error (nothing was sent).
func TestWrongKeyCannotDial(t *testing.T) {
	pl := listen(t, newLink(t, Options{ClusterKey: testKey}))
	for name, opts := range map[string]Options{
		"other key": {ClusterKey: bytes.Repeat([]byte{9}, 32)},
		"no key":    {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newLink(t, opts).Dial(ctx(t), pl.Addr().String(), RPC)
			var op *net.OpError
			if err == nil || !errors.As(err, &op) || op.Op != "dial" {
				t.Fatalf("dial: %v, want a dial error", err)
			}
		})
	}
}

// TestDialerChecksTheAck: a dialler with the key refuses a listener that
// does not hold it, so it never sends Raft or RPC traffic to an impostor.
func TestDialerChecksTheAck(t *testing.T) {
	impostor := listen(t, newLink(t, Options{})) // answers any hello, unsigned
	_, err := newLink(t, Options{ClusterKey: testKey}).Dial(ctx(t), impostor.Addr().String(), Raft)
	if !errors.Is(err, errBadMAC) {
		t.Fatalf("dial an impostor: %v, want %v", err, errBadMAC)
	}
}

// TestForeignCertificateRefused: with mutual TLS, a node whose certificate
// another CA signed can neither connect nor be connected to; a plain
// connection with a valid signed hello gets nowhere either.
func TestForeignCertificateRefused(t *testing.T) {
	cluster, other := newCA(t, "cluster"), newCA(t, "other")
	pl := listen(t, newLink(t, Options{TLS: credentials(t, cluster, "n1")}))
	stranger := newLink(t, Options{TLS: credentials(t, other, "n9")})
	if _, err := stranger.Dial(ctx(t), pl.Addr().String(), RPC); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}

	// The other way: a member does not talk to a listener of another CA.
	foreign := listen(t, stranger)
	member := newLink(t, Options{TLS: credentials(t, cluster, "n2")})
	if _, err := member.Dial(ctx(t), foreign.Addr().String(), Raft); err == nil {
		t.Fatal("dialled a listener whose certificate another CA signed")
	}

	// A client certificate is required.
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	tc, err := tls.Dial("tcp", pl.Addr().String(), noCert)
	if err == nil {
		b := signedHello(nil, time.Now(), RPC)
		tc.Write(b[:])
		tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _ := io.Copy(io.Discard, tc); n != 0 {
			t.Fatal("a TLS client with no certificate got an answer")
		}
		tc.Close()
	}

	plain := dialRaw(t, pl)
	b := signedHello(nil, time.Now(), Raft)
	plain.Write(b[:])
	refusedQuickly(t, pl, plain, time.Second)
}

// TestCloseEndsHandshakes: Close does not wait for a silent connection's
// handshake deadline.
func TestCloseEndsHandshakes(t *testing.T) {
	l := newLink(t, Options{ClusterKey: testKey, HandshakeTimeout: time.Minute})
	pl, err := l.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dialRaw(t, pl)
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { pl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a handshake")
	}
	if _, err := pl.Raft().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

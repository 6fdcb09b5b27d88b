package jepsen

import (
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes a line and reports whether it came back within d.
func roundTrip(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 5)
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping\n"
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProxyRules: this test process plays node 1 (its pid is registered),
// the echo server is node 2 behind its proxy. The proxy must trace each
// connection to node 1 through /proc and apply the (1, 2) link's rules.
func TestProxyRules(t *testing.T) {
	n := NewNet()
	defer n.Close()
	addr, err := n.Listen(2, "", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	n.SetPID(1, os.Getpid())

	c := dial(t, addr)
	if !roundTrip(t, c, 2*time.Second) {
		t.Fatal("no echo through an open link")
	}
	if got := n.Conns()[[2]int{1, 2}]; got != 1 {
		t.Fatalf("connections from node 1 to node 2: %d, want 1 (source not traced): %v", got, n.Conns())
	}

	// A cut closes the link's connections and holds new ones.
	n.SetRules(map[[2]int]bool{{1, 2}: true, {2, 1}: true})
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection on a cut link still open")
	}
	held := dial(t, addr)
	if roundTrip(t, held, 300*time.Millisecond) {
		t.Fatal("echo across a cut link")
	}

	// One way, node 1 to node 2 blocked: what node 1 sends is dropped.
	n.SetRules(map[[2]int]bool{{1, 2}: true})
	if roundTrip(t, dial(t, addr), 300*time.Millisecond) {
		t.Fatal("echo with node 1's bytes dropped")
	}
	// One way, node 2 to node 1 blocked: the request arrives, the answer
	// is dropped.
	n.SetRules(map[[2]int]bool{{2, 1}: true})
	if roundTrip(t, dial(t, addr), 300*time.Millisecond) {
		t.Fatal("echo with node 2's bytes dropped")
	}

	// Healed: new connections work; a connection not from a node (this
	// process forgotten) is never blocked.
	n.Heal()
	if !roundTrip(t, dial(t, addr), 2*time.Second) {
		t.Fatal("no echo after heal")
	}
	n.SetPID(1, 0)
	n.SetRules(map[[2]int]bool{{1, 2}: true, {2, 1}: true})
	if !roundTrip(t, dial(t, addr), 2*time.Second) {
		t.Fatal("a connection from no node was blocked")
	}
	if acc, ident, held := n.Stats(); acc != 6 || ident != 5 || held != 1 {
		t.Errorf("stats: accepted %d identified %d held %d, want 6 5 1", acc, ident, held)
	}
}

func TestFreeAddrsAreBelowTheEphemeralRange(t *testing.T) {
	addrs, err := FreeAddrs(4)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if p < fixedPortsLow || p >= ephemeralLow() || seen[a] {
			t.Fatalf("address %s: want distinct ports in %d-%d", a, fixedPortsLow, ephemeralLow()-1)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("handed out %s, which is not free: %v", a, err)
		}
		l.Close()
	}
}

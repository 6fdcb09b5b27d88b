package raftnet

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// capListener wraps the listener the transport accepts from and closes, as
// soon as it is accepted, a connection past the cap on open connections in
// total or from its remote host. Closing at once, rather than holding the
// connection until another ends, spends nothing on a flood: the flooder
// sees its connections closed and a real peer dials again (dragonboat
// retries a failed connection on its next message).
type capListener struct {
	net.Listener
	total, perHost int
	log            *slog.Logger

	mu         sync.Mutex
	open       int
	byHost     map[string]int
	refused    int       // since the last warning
	lastWarned time.Time // warnings come at most once per refuseLogEvery
}

// refuseLogEvery spaces the warnings about refused connections, so that a
// flood does not flood the log too.
const refuseLogEvery = 10 * time.Second

func capConns(ln net.Listener, total, perHost int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, total: total, perHost: perHost, log: log, byHost: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c)
		if l.admit(host) {
			return &cappedConn{Conn: c, release: func() { l.release(host) }}, nil
		}
		c.Close()
	}
}

func (l *capListener) admit(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open < l.total && l.byHost[host] < l.perHost {
		l.open++
		l.byHost[host]++
		return true
	}
	l.refused++
	if now := time.Now(); now.Sub(l.lastWarned) >= refuseLogEvery {
		l.log.Warn("refuse raft connections past the cap", "refused", l.refused, "last_from", host,
			"open", l.open, "from_host", l.byHost[host], "cap", l.total, "cap_per_host", l.perHost)
		l.refused, l.lastWarned = 0, now
	}
	return false
}

func (l *capListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
}

// remoteHost is the host part of a connection's remote address: the unit
// of the per-host cap.
func remoteHost(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// cappedConn gives its place under the caps back when first closed.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// NetConn is the accepted connection, for code that needs its type (a
// *tls.Conn, say), as tls.Conn.NetConn does.
func (c *cappedConn) NetConn() net.Conn { return c.Conn }

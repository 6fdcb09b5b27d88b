package limits

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// refusalLogEvery bounds how often refused connections are logged.
const refusalLogEvery = 10 * time.Second

// Listener caps the connections open at once from ln: past max, an
// accepted connection is reset at once, unread (linger 0: an RST, which
// tells the client at once and leaves no TIME_WAIT behind here).
//
// Refusing, rather than answering resource_exhausted on the connection,
// is deliberate: an answer means reading the request first (and, with TLS,
// a handshake), which costs a goroutine, buffers and CPU for exactly the
// connections there is no room for, and a flood of them would take what
// the cap protects. Closing costs nothing, and the client can retry (the
// Go client retries sends and reads after a reset connection; calls that
// are not safe to repeat report it). Requests on admitted connections get
// resource_exhausted with a retry hint from the other limits.
type Listener struct {
	net.Listener
	max  int64
	open atomic.Int64
	log  *slog.Logger

	mu       sync.Mutex
	refused  int
	loggedAt time.Time
}

// NewListener wraps ln with a cap of max open connections; max 0 returns
// ln unchanged.
func NewListener(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, max: int64(max), log: log}
}

// Accept returns the next connection within the cap, closing those over it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &conn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		l.noteRefused(c.RemoteAddr())
	}
}

// Open is how many accepted connections are open.
func (l *Listener) Open() int { return int(l.open.Load()) }

func (l *Listener) noteRefused(from net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	if time.Since(l.loggedAt) < refusalLogEvery {
		return
	}
	l.log.Warn("API connections at their cap (--max-connections): refusing new ones",
		"max", l.max, "refused", l.refused, "last_from", from.String())
	l.refused, l.loggedAt = 0, time.Now()
}

// conn gives its slot back once, when closed.
type conn struct {
	net.Conn
	l      *Listener
	closed atomic.Bool
}

func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Add(-1)
	}
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection, as net/http does before closing
// one it answered with an error.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

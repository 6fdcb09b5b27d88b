package peerlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Listener accepts connections on the peer port, runs each one's handshake
// and hands it to the sub-listener of its kind: Raft() for the Raft
// transport, RPC() for the HTTP server of NodeService.
type Listener struct {
	link *Link
	ln   net.Listener
	raft *subListener
	rpc  *subListener

	// slots holds a token per connection in handshake (MaxHandshakes).
	slots chan struct{}
	done  chan struct{} // closed by Close
	// floodErr is what the log says of a connection refused unread.
	floodErr error
	// ctx ends with Close: it ends the handshakes under way.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup // the accept loop and each handshake
}

// Listen listens on addr (the node's Raft listen address).
func (l *Link) Listen(addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("peerlink: listen on %s: %w", addr, err)
	}
	return l.Serve(ln), nil
}

// Serve accepts peer connections from ln until Close.
func (l *Link) Serve(ln net.Listener) *Listener {
	pl := &Listener{
		link:  l,
		ln:    ln,
		slots: make(chan struct{}, l.opts.MaxHandshakes),
		done:  make(chan struct{}),
	}
	pl.floodErr = fmt.Errorf("peerlink: %d connections already in handshake; closed unread", cap(pl.slots))
	pl.ctx, pl.cancel = context.WithCancel(context.Background())
	pl.raft = newSubListener(ln.Addr())
	pl.rpc = newSubListener(ln.Addr())
	pl.wg.Add(1)
	go pl.acceptLoop()
	return pl
}

// Raft is where authenticated Raft connections are accepted from.
func (pl *Listener) Raft() net.Listener { return pl.raft }

// RPC is where authenticated NodeService connections are accepted from.
func (pl *Listener) RPC() net.Listener { return pl.rpc }

// Addr is the address listened on.
func (pl *Listener) Addr() net.Addr { return pl.ln.Addr() }

// Close stops accepting, ends the handshakes under way and closes both
// sub-listeners; connections already handed on are their owners' to close.
func (pl *Listener) Close() error {
	var err error
	pl.once.Do(func() {
		close(pl.done)
		pl.cancel()
		err = pl.ln.Close()
		pl.raft.Close()
		pl.rpc.Close()
	})
	pl.wg.Wait()
	return err
}

func (pl *Listener) acceptLoop() {
	defer pl.wg.Done()
	for {
		c, err := pl.ln.Accept()
		if err != nil {
			select {
			case <-pl.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pl.link.opts.Logger.Warn("accept on the peer port", "err", err)
			time.Sleep(acceptBackoff)
			continue
		}
		select {
		case pl.slots <- struct{}{}:
		default:
			// A flood: closed unread, nothing kept for it.
			c.Close()
			pl.link.refused.note(c.RemoteAddr(), pl.floodErr)
			continue
		}
		pl.wg.Add(1)
		go pl.handshake(c)
	}
}

// handshake authenticates c and hands it on, or closes it. The slot is
// held until the connection is handed on, so connections whose kind is not
// accepted yet (the node is still starting) count against the bound too.
func (pl *Listener) handshake(c net.Conn) {
	defer pl.wg.Done()
	defer func() { <-pl.slots }()
	deadline := time.Now().Add(pl.link.opts.HandshakeTimeout)
	ctx, cancel := context.WithDeadline(pl.ctx, deadline)
	defer cancel()
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return
	}
	// Close ends a handshake blocked in a read at once.
	unhook := context.AfterFunc(pl.ctx, func() { c.Close() })
	conn, kind, err := pl.link.accept(ctx, c)
	if !unhook() {
		return // closed by Close
	}
	if err != nil {
		c.Close()
		pl.link.refused.note(c.RemoteAddr(), err)
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return
	}
	sub := pl.raft
	if kind == RPC {
		sub = pl.rpc
	}
	if !sub.deliver(ctx, conn) {
		conn.Close()
	}
}

// subListener is a net.Listener fed by the handshakes.
type subListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newSubListener(addr net.Addr) *subListener {
	return &subListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver hands c to Accept; false when the sub-listener closed or ctx
// ended first.
func (s *subListener) deliver(ctx context.Context, c net.Conn) bool {
	select {
	case s.conns <- c:
		return true
	case <-s.closed:
	case <-ctx.Done():
	}
	return false
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

func (s *subListener) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *subListener) Addr() net.Addr { return s.addr }

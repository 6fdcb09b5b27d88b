// Package raftnet carries dragonboat's Raft messages and snapshot chunks
// between Wharf nodes over TCP.
//
// It exists for speed. dragonboat's built-in TCP transport writes every
// message batch with three write calls (magic number, header, payload) and
// reads it with three or more, so each Raft hop costs several system calls
// and wake-ups on both sides. Here a batch is one frame, built in one buffer
// and written with one call, and the receiver reads through a buffer, so
// one read usually brings a whole frame, or several. The frame checks
// itself (CRC-32C of the header and of the payload): TCP's own checksum
// misses corruption often enough that a replicated log should not trust it.
//
// The package does no authentication itself: wharfd gives it a listener
// and a dialer of transport/peerlink (Factory.Listener, Factory.Dial),
// which authenticate every connection before a frame is read.
package raftnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Frame layout, 16-byte header then payload:
//
//	[0:2]   magic "WR"
//	[2]     kind (batch, chunk, bye, bye ack)
//	[3]     version (1)
//	[4:8]   payload length, big-endian
//	[8:12]  CRC-32C of the payload
//	[12:16] CRC-32C of bytes [0:12]
//
// The header's own checksum is checked before the length is trusted, so a
// corrupt length never makes the reader allocate.
const (
	headerSize = 16
	version    = 1

	kindBatch  = 1 // a pb.MessageBatch
	kindChunk  = 2 // a pb.Chunk of a snapshot
	kindBye    = 3 // the sender of a snapshot is done; answer with kindByeAck
	kindByeAck = 4

	// maxPayload bounds one frame. dragonboat caps a message batch at 64
	// MiB and a snapshot chunk at 2 MiB of data; the bound leaves room and
	// still refuses absurd lengths.
	maxPayload = 128 << 20
	// readBuffer is the receiver's buffer: many frames fit, so a busy
	// connection is read with few system calls.
	readBuffer = 64 << 10
	// keepBuffer is the largest frame buffer a connection keeps for the
	// next frame; a larger one (a big batch or chunk) is dropped after use.
	keepBuffer = 4 << 20

	dialTimeout  = 5 * time.Second
	writeTimeout = 10 * time.Second
	// byeTimeout bounds the wait for a snapshot receiver's acknowledgement.
	byeTimeout = 10 * time.Second
	keepAlive  = 10 * time.Second
	// acceptBackoff is the pause after a temporary accept error (too many
	// open files), so the loop does not spin.
	acceptBackoff = 50 * time.Millisecond
)

var (
	magic      = [2]byte{'W', 'R'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	errBadFrame = errors.New("raftnet: bad frame")
	errClosed   = errors.New("raftnet: transport closed")
)

// Factory makes raftnet transports for dragonboat
// (config.ExpertConfig.TransportFactory). Logger, if set, gets corrupt
// frames and accept errors.
//
// Listener and Dial, if set, replace listening on the node host's listen
// address and dialling plain TCP: wharfd passes transport/peerlink's Raft
// sub-listener and dialer, so that only authenticated nodes reach the
// frame reader. The transport closes Listener when it closes.
type Factory struct {
	Logger   *slog.Logger
	Listener net.Listener
	Dial     func(ctx context.Context, addr string) (net.Conn, error)
}

var _ config.TransportFactory = Factory{}

// Create returns the transport of a node host.
func (f Factory) Create(nhc config.NodeHostConfig, onBatch raftio.MessageHandler, onChunk raftio.ChunkHandler) raftio.ITransport {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transport{
		listenAddr: nhc.GetListenAddress(),
		listener:   f.Listener,
		dialFn:     f.Dial,
		onBatch:    onBatch,
		onChunk:    onChunk,
		log:        log.With("component", "raftnet"),
		conns:      map[net.Conn]struct{}{},
	}
}

// Validate accepts host:port addresses with a numeric port.
func (Factory) Validate(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p < 65536
}

// Transport is one node host's end: it listens for frames from other nodes
// and dials them to send.
type Transport struct {
	listenAddr string
	listener   net.Listener // Factory.Listener; nil: listen on listenAddr
	dialFn     func(ctx context.Context, addr string) (net.Conn, error)
	onBatch    raftio.MessageHandler
	onChunk    raftio.ChunkHandler
	log        *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{} // accepted, open
	closed bool
	wg     sync.WaitGroup // the accept loop and one per accepted connection
}

var _ raftio.ITransport = (*Transport)(nil)

// Name names the transport in dragonboat's logs.
func (t *Transport) Name() string { return "wharf-raftnet" }

// Start listens on the node host's listen address, or accepts from
// Factory.Listener.
func (t *Transport) Start() error {
	ln := t.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", t.listenAddr); err != nil {
			return fmt.Errorf("raftnet: listen on %s: %w", t.listenAddr, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		ln.Close()
		return errClosed
	}
	t.ln = ln
	t.wg.Add(1)
	go t.accept(ln)
	return nil
}

// Addr is the address the transport listens on (after Start), useful when
// it was given port 0.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Close stops listening, closes every accepted connection and returns once
// no handler is running or will run.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	if t.ln != nil {
		t.ln.Close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func (t *Transport) accept(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			t.mu.Lock()
			closed := t.closed
			t.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("accept raft connection", "err", err)
			time.Sleep(acceptBackoff)
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(c)
	}
}

// serve reads frames from one connection until it fails or ends. A bad
// frame ends the connection: after it, the stream cannot be trusted.
func (t *Transport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, readBuffer)
	drop := func(err error) {
		t.log.Warn("drop raft connection", "remote", c.RemoteAddr().String(), "err", err)
	}
	var hdr [headerSize]byte
	var payload []byte
	for {
		kind, n, crc, err := readHeader(r, hdr[:])
		if err != nil {
			if errors.Is(err, errBadFrame) {
				drop(err)
			}
			return
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if crc32.Checksum(payload, castagnoli) != crc {
			drop(fmt.Errorf("%w: payload checksum", errBadFrame))
			return
		}
		switch kind {
		case kindBatch:
			var b pb.MessageBatch
			if err := b.Unmarshal(payload); err != nil {
				drop(fmt.Errorf("%w: message batch: %v", errBadFrame, err))
				return
			}
			t.onBatch(b)
		case kindChunk:
			var ch pb.Chunk
			if err := ch.Unmarshal(payload); err != nil {
				drop(fmt.Errorf("%w: snapshot chunk: %v", errBadFrame, err))
				return
			}
			if !t.onChunk(ch) {
				return // dragonboat refused the snapshot: the sender sees the close
			}
		case kindBye:
			// Every chunk before it was handled: tell the sender, then end.
			ack := frame(nil, kindByeAck, 0)
			seal(ack)
			c.SetWriteDeadline(time.Now().Add(writeTimeout))
			c.Write(ack)
			return
		default:
			drop(fmt.Errorf("%w: kind %d", errBadFrame, kind))
			return
		}
		// A frame much larger than usual is not kept for the next one.
		if cap(payload) > keepBuffer {
			payload = nil
		}
	}
}

// readHeader reads and checks a frame header.
func readHeader(r io.Reader, hdr []byte) (kind byte, n uint32, crc uint32, err error) {
	if _, err := io.ReadFull(r, hdr[:headerSize]); err != nil {
		return 0, 0, 0, err
	}
	switch {
	case binary.BigEndian.Uint32(hdr[12:16]) != crc32.Checksum(hdr[:12], castagnoli):
		return 0, 0, 0, fmt.Errorf("%w: header checksum", errBadFrame)
	case hdr[0] != magic[0] || hdr[1] != magic[1]:
		return 0, 0, 0, fmt.Errorf("%w: magic %x", errBadFrame, hdr[:2])
	case hdr[3] != version:
		return 0, 0, 0, fmt.Errorf("%w: version %d", errBadFrame, hdr[3])
	}
	n = binary.BigEndian.Uint32(hdr[4:8])
	if n > maxPayload {
		return 0, 0, 0, fmt.Errorf("%w: payload of %d bytes (at most %d)", errBadFrame, n, maxPayload)
	}
	return hdr[2], n, binary.BigEndian.Uint32(hdr[8:12]), nil
}

// frame returns buf grown to hold a header and n payload bytes, with the
// header written but for the checksums: seal writes them once the payload
// is in place.
func frame(buf []byte, kind byte, n int) []byte {
	size := headerSize + n
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	clear(buf[:headerSize])
	buf[0], buf[1], buf[2], buf[3] = magic[0], magic[1], kind, version
	binary.BigEndian.PutUint32(buf[4:8], uint32(n))
	return buf
}

// seal writes the checksums of a frame whose payload is in place.
func seal(f []byte) {
	binary.BigEndian.PutUint32(f[8:12], crc32.Checksum(f[headerSize:], castagnoli))
	binary.BigEndian.PutUint32(f[12:16], crc32.Checksum(f[:12], castagnoli))
}

// GetConnection dials target for Raft messages.
func (t *Transport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c, err := t.dial(ctx, target)
	if err != nil {
		return nil, err
	}
	return &conn{c: c}, nil
}

// GetSnapshotConnection dials target for the chunks of one snapshot.
func (t *Transport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	c, err := t.dial(ctx, target)
	if err != nil {
		return nil, err
	}
	return &snapshotConn{conn: conn{c: c}}, nil
}

func (t *Transport) dial(ctx context.Context, target string) (net.Conn, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if t.dialFn != nil {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		c, err := t.dialFn(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("raftnet: dial %s: %w", target, err)
		}
		return c, nil
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("raftnet: dial %s: %w", target, err)
	}
	return c, nil
}

// conn sends frames over one dialled connection. dragonboat uses a
// connection from one goroutine at a time.
type conn struct {
	c   net.Conn
	buf []byte // the last frame's buffer, reused
}

var _ raftio.IConnection = (*conn)(nil)

func (c *conn) Close() { c.c.Close() }

// SendMessageBatch writes the batch as one frame with one write.
func (c *conn) SendMessageBatch(b pb.MessageBatch) error {
	return c.send(kindBatch, &b, b.SizeUpperLimit())
}

type marshaler interface {
	MarshalTo([]byte) (int, error)
}

// send marshals m (at most size bytes) into a frame and writes it.
func (c *conn) send(kind byte, m marshaler, size int) error {
	if size > maxPayload {
		return fmt.Errorf("raftnet: frame of up to %d bytes exceeds %d", size, maxPayload)
	}
	f := frame(c.buf, kind, size)
	n, err := m.MarshalTo(f[headerSize:])
	if err != nil {
		return fmt.Errorf("raftnet: marshal frame: %w", err)
	}
	f = f[:headerSize+n]
	binary.BigEndian.PutUint32(f[4:8], uint32(n))
	seal(f)
	if cap(f) <= keepBuffer {
		c.buf = f
	} else {
		c.buf = nil
	}
	if err := c.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("raftnet: set write deadline: %w", err)
	}
	if _, err := c.c.Write(f); err != nil {
		return fmt.Errorf("raftnet: write frame: %w", err)
	}
	return nil
}

// snapshotConn sends the chunks of one snapshot.
type snapshotConn struct {
	conn
}

var _ raftio.ISnapshotConnection = (*snapshotConn)(nil)

// SendChunk writes the chunk as one frame.
func (s *snapshotConn) SendChunk(ch pb.Chunk) error {
	return s.send(kindChunk, &ch, ch.Size())
}

// Close tells the receiver the snapshot's chunks are done and waits (a
// bounded time) until it has handled them all, so that closing cannot cut
// off chunks still in flight.
func (s *snapshotConn) Close() {
	defer s.c.Close()
	bye := frame(nil, kindBye, 0)
	seal(bye)
	if err := s.c.SetDeadline(time.Now().Add(byeTimeout)); err != nil {
		return
	}
	if _, err := s.c.Write(bye); err != nil {
		return
	}
	var hdr [headerSize]byte
	readHeader(s.c, hdr[:]) // the ack, or an error or timeout: closed either way
}

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
	"os"
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
// The header's own checksum, its kind and the length allowed for that kind
// are checked before anything is allocated for the payload, and the payload
// is then read in steps that grow only as its bytes arrive (payload.go), so
// a header that lies about its length costs what was really sent.
const (
	headerSize = 16
	version    = 1

	kindBatch  = 1 // a pb.MessageBatch
	kindChunk  = 2 // a pb.Chunk of a snapshot
	kindBye    = 3 // the sender of a snapshot is done; answer with kindByeAck
	kindByeAck = 4

	// The payload bounds come from what dragonboat really sends (the
	// values are its internal/settings; the package is internal, hence the
	// copies).
	//
	// dbMaxMessageBatchSize is settings.MaxMessageBatchSize (hard.go): the
	// transport adds messages to a batch while the sum of their
	// SizeUpperLimit stays under it, and sends the message that crosses it
	// in a batch of its own (internal/transport/transport.go,
	// processMessages). That lone message is a Replicate holding at most
	// settings.Soft.MaxEntrySize of entries (by default this same 64 MiB;
	// raft.go makeReplicateMessage, limitSize), unless a single entry is
	// larger, and Wharf's largest entry is one client batch,
	// core.MaxBatchEntries bodies of core.MaxMaximumMessageBytes (10 MiB)
	// plus its fields, well under it. (core/node's maxInMemLog, 64 MiB,
	// bounds the unapplied log a replica holds, not a message.)
	dbMaxMessageBatchSize = 64 << 20
	// dbSnapshotChunkSize is settings.SnapshotChunkSize: the data of one
	// snapshot chunk, streamed or read from a snapshot file
	// (internal/rsm/chunkwriter.go, internal/transport/snapshot.go).
	dbSnapshotChunkSize = 2 << 20

	// maxBatchPayload bounds a kindBatch payload. SizeUpperLimit counts at
	// least 128 bytes for every entry and message it sums, and marshalling
	// frames each with at most 6 more bytes (a tag and a length), so the
	// marshalled batch exceeds the 64 MiB sum by less than 1/16; 64 KiB
	// more covers the batch's own fields (source address, versions).
	maxBatchPayload = dbMaxMessageBatchSize + dbMaxMessageBatchSize/16 + 64<<10
	// maxChunkPayload bounds a kindChunk payload: the chunk's data plus its
	// fields (ids, the snapshot's file path, the membership, an external
	// file's metadata), which 1 MiB leaves ample room for.
	maxChunkPayload = dbSnapshotChunkSize + 1<<20

	// readBuffer is the receiver's buffer: many frames fit, so a busy
	// connection is read with few system calls.
	readBuffer = 64 << 10
	// keepBuffer is the largest frame buffer a connection keeps for the
	// next frame; a larger one (a big batch or chunk) is dropped after use.
	keepBuffer = 4 << 20

	// idleTimeout closes a connection that brings no frame for this long.
	// dragonboat's own sender closes a message connection after a minute
	// with nothing to send (internal/transport/transport.go, idleTimeout),
	// and a connection can be that quiet in a healthy cluster: dragonboat
	// keeps StreamConnections connections per peer, each for a quarter of
	// the shards, and only a leader's heartbeats (every HeartbeatRTT *
	// RTTMillisecond, 100 ms in core/node) and the answers to them are
	// periodic, so a connection whose shards are all led by a third node
	// carries nothing. Closing such a connection before its sender does
	// would lose the next message sent on it; the bound gives dragonboat's
	// minute a margin. A snapshot connection sends chunk after chunk
	// (a chunk is read from disk between two), far more often.
	idleTimeout = 75 * time.Second
	// frameTimeoutFloor and minFrameRate bound the time a frame may take
	// to arrive once its header has: the floor plus its length at the
	// lowest rate a peer is expected to sustain. The sender gives up
	// writing a frame after writeTimeout; the floor matches it, and at 1
	// MiB/s the largest batch gets a minute more.
	frameTimeoutFloor = writeTimeout
	minFrameRate      = 1 << 20 // bytes per second

	// maxConns and maxConnsPerHost cap the accepted connections (connlimit.go).
	// A peer opens StreamConnections (4) message connections to each node
	// and one connection per snapshot it streams, at most
	// MaxSnapshotConnections (64) at once over all its targets: 68 from
	// one host at the very worst, a handful in practice (one snapshot per
	// shard that needs it). The per-host cap leaves room for that worst
	// case, and for the nodes of a local cluster, which share 127.0.0.1.
	// The total allows a cluster of dozens of nodes; a connection costs
	// its read buffer (64 KiB) and a goroutine while it lives, so the cap
	// bounds that cost at about 40 MiB.
	maxConns        = 512
	maxConnsPerHost = 128

	dialTimeout  = 5 * time.Second
	writeTimeout = 10 * time.Second
	// byeTimeout bounds the wait for a snapshot receiver's acknowledgement.
	byeTimeout = 10 * time.Second
	keepAlive  = 10 * time.Second
	// acceptBackoff is the pause after a temporary accept error (too many
	// open files), so the loop does not spin.
	acceptBackoff = 50 * time.Millisecond
)

// maxPayload is the longest payload a frame of the kind may carry, and
// whether the kind is known at all. Both ends use it: readHeader refuses a
// header announcing more, and send refuses to build such a frame.
func maxPayload(kind byte) (int, bool) {
	switch kind {
	case kindBatch:
		return maxBatchPayload, true
	case kindChunk:
		return maxChunkPayload, true
	case kindBye, kindByeAck:
		return 0, true
	}
	return 0, false
}

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
		limits:     defaultLimits,
		budget:     newBudget(defaultLimits.payloadBudget),
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
	limits     limits
	buffers    bufferPool // payload buffers, shared by the connections
	budget     *budget    // bytes reserved by long payloads being read

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{} // accepted, open
	closed bool
	wg     sync.WaitGroup // the accept loop and one per accepted connection
}

var _ raftio.ITransport = (*Transport)(nil)

// limits are the receiver's time and connection bounds; tests shorten them.
type limits struct {
	idle         time.Duration // no frame begun for this long: close
	frameFloor   time.Duration // a begun frame may take this long, plus
	frameRate    int           // its length at this many bytes a second
	conns        int           // accepted connections open at once
	connsPerHost int           // of them from one remote host
	// payloadBudget is the size of Transport.budget (payload.go).
	payloadBudget int
}

var defaultLimits = limits{
	idle:          idleTimeout,
	frameFloor:    frameTimeoutFloor,
	frameRate:     minFrameRate,
	conns:         maxConns,
	connsPerHost:  maxConnsPerHost,
	payloadBudget: payloadBudget,
}

// frameTimeout is how long a frame of n payload bytes may take to arrive.
func (l limits) frameTimeout(n int) time.Duration {
	return l.frameFloor + time.Duration(n)*time.Second/time.Duration(l.frameRate)
}

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
	go t.accept(capConns(ln, t.limits.conns, t.limits.connsPerHost, t.log))
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
	t.budget.stop() // frames waiting for payload budget end now
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
// frame ends the connection: after it, the stream cannot be trusted. So
// does silence: a connection must begin a frame within limits.idle of the
// last, and finish it within limits.frameTimeout of its header.
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
	for {
		if err := c.SetReadDeadline(time.Now().Add(t.limits.idle)); err != nil {
			return
		}
		kind, n, crc, err := readHeader(r, hdr[:])
		if err != nil {
			switch {
			case errors.Is(err, errBadFrame):
				drop(err)
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.log.Debug("close idle raft connection", "remote", c.RemoteAddr().String(), "idle", t.limits.idle)
			}
			return
		}
		deadline := time.Now().Add(t.limits.frameTimeout(n))
		if err := c.SetReadDeadline(deadline); err != nil {
			return
		}
		p, err := t.readPayload(r, n, deadline)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				drop(fmt.Errorf("%w: %d-byte payload not received within %v", errBadFrame, n, t.limits.frameTimeout(n)))
			case errors.Is(err, errNoBudget):
				drop(err)
			}
			return
		}
		ok := t.handle(c, kind, *p.buf, crc, drop)
		// dragonboat's Unmarshal copies what it keeps (entry commands,
		// chunk data, strings), so nothing refers to the buffer any more.
		t.done(p)
		if !ok {
			return
		}
	}
}

// handle checks a frame's payload and hands it to dragonboat. It reports
// whether the connection goes on.
func (t *Transport) handle(c net.Conn, kind byte, payload []byte, crc uint32, drop func(error)) bool {
	if crc32.Checksum(payload, castagnoli) != crc {
		drop(fmt.Errorf("%w: payload checksum", errBadFrame))
		return false
	}
	switch kind {
	case kindBatch:
		var b pb.MessageBatch
		if err := b.Unmarshal(payload); err != nil {
			drop(fmt.Errorf("%w: message batch: %v", errBadFrame, err))
			return false
		}
		t.onBatch(b)
		return true
	case kindChunk:
		var ch pb.Chunk
		if err := ch.Unmarshal(payload); err != nil {
			drop(fmt.Errorf("%w: snapshot chunk: %v", errBadFrame, err))
			return false
		}
		// false: dragonboat refused the snapshot; the sender sees the close.
		return t.onChunk(ch)
	case kindBye:
		// Every chunk before it was handled: tell the sender, then end.
		ack := frame(nil, kindByeAck, 0)
		seal(ack)
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		c.Write(ack)
		return false
	default:
		drop(fmt.Errorf("%w: kind %d", errBadFrame, kind))
		return false
	}
}

// readHeader reads and checks a frame header, including that its kind is
// known and its length within that kind's bound, so that a caller may
// allocate what it announces.
func readHeader(r io.Reader, hdr []byte) (kind byte, n int, crc uint32, err error) {
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
	kind = hdr[2]
	limit, known := maxPayload(kind)
	if !known {
		return 0, 0, 0, fmt.Errorf("%w: kind %d", errBadFrame, kind)
	}
	// Compared as uint32 first: on a 32-bit platform the length would
	// overflow an int.
	if l := binary.BigEndian.Uint32(hdr[4:8]); l > uint32(limit) {
		return 0, 0, 0, fmt.Errorf("%w: kind %d payload of %d bytes (at most %d)", errBadFrame, kind, l, limit)
	}
	return kind, int(binary.BigEndian.Uint32(hdr[4:8])), binary.BigEndian.Uint32(hdr[8:12]), nil
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

// send marshals m (at most size bytes) into a frame and writes it. It
// refuses a payload longer than the receiver accepts (maxPayload): sent,
// it would only make the receiver drop the connection.
func (c *conn) send(kind byte, m marshaler, size int) error {
	limit, _ := maxPayload(kind)
	// An upper limit can overstate the marshalled size (tenfold for a
	// batch of heartbeats), so the exact check follows the marshalling;
	// this one spares building a frame that cannot pass.
	if size > 2*limit {
		return fmt.Errorf("raftnet: kind %d frame of up to %d bytes exceeds %d", kind, size, limit)
	}
	f := frame(c.buf, kind, size)
	n, err := m.MarshalTo(f[headerSize:])
	if err != nil {
		return fmt.Errorf("raftnet: marshal frame: %w", err)
	}
	if n > limit {
		return fmt.Errorf("raftnet: kind %d frame of %d bytes exceeds %d", kind, n, limit)
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

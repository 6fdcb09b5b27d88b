package raftnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// The attacks of issue 11 on the Raft port: a stranger's connection must
// cost the node what the stranger really sent, for a bounded time, on a
// bounded number of connections.

// header is a checksummed frame header announcing n payload bytes of kind.
func header(kind byte, n uint32) []byte {
	h := frame(nil, kind, 0)
	binary.BigEndian.PutUint32(h[4:8], n)
	binary.BigEndian.PutUint32(h[12:16], crc32c(h[:12]))
	return h
}

// allocated is the bytes this process allocated so far.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// dial connects to addr as a stranger would.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the transport closes c within d (reading
// nothing from it: the transport never writes unasked).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func TestOversizedHeaderIsRefusedBeforeAnyAllocation(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	for name, h := range map[string][]byte{
		// Under the old single 128 MiB bound, over what a batch can be.
		"batch of 100 MiB":      header(kindBatch, 100<<20),
		"batch past its bound":  header(kindBatch, maxBatchPayload+1),
		"chunk of 64 MiB":       header(kindChunk, 64<<20),
		"bye with a payload":    header(kindBye, 1),
		"unknown kind, 1 MiB":   header(9, 1<<20),
		"largest length at all": header(kindBatch, 1<<32-1),
	} {
		t.Run(name, func(t *testing.T) {
			before := allocated()
			c := dial(t, addr)
			if _, err := c.Write(h); err != nil {
				t.Fatal(err)
			}
			if !closedWithin(c, 5*time.Second) {
				t.Fatal("the connection stayed open after an oversized header")
			}
			if grew := allocated() - before; grew > 1<<20 {
				t.Fatalf("the node allocated %d bytes for a refused header", grew)
			}
		})
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.batches)+len(recv.chunks) != 0 {
		t.Fatal("a refused frame reached a handler")
	}
}

func TestLyingLengthCostsOnlyWhatArrived(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	const announced = 60 << 20 // within the batch bound: a frame may be this long
	before := allocated()
	var conns []net.Conn
	for range 4 {
		c := dial(t, addr)
		if _, err := c.Write(append(header(kindBatch, announced), "ten bytes!"...)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Let the transport read what was sent and wait for the rest.
	time.Sleep(300 * time.Millisecond)
	for _, c := range conns {
		if closedWithin(c, 10*time.Millisecond) {
			t.Fatal("a frame still within its deadline was dropped")
		}
	}
	// Four connections, each holding one segment (64 KiB), plus the
	// read buffers: well under one announced payload.
	if grew := allocated() - before; grew > 4<<20 {
		t.Fatalf("4 frames announcing %d bytes and sending 10 cost %d bytes", announced, grew)
	}
}

func TestSlowFrameIsDroppedAtItsDeadline(t *testing.T) {
	recv := newSink()
	_, addr := startWith(t, recv, func(l *limits) { l.frameFloor = 500 * time.Millisecond })
	c := dial(t, addr)
	if _, err := c.Write(header(kindBatch, 1000)); err != nil {
		t.Fatal(err)
	}
	// A byte every 100 ms: the idle deadline never passes, but 1000 bytes
	// would take 100 s and the frame is allowed about 0.5 s.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a trickled frame kept its connection open for 5 s")
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("the frame was dropped after %v, before its deadline", took)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	recv := newSink()
	_, addr := startWith(t, recv, func(l *limits) { l.idle = 500 * time.Millisecond })
	// A connection that sends a frame more often than the idle bound stays
	// open past it.
	busy := dial(t, addr)
	for range 6 {
		if _, err := busy.Write(goodFrame(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	recv.wait(t, 6)
	if closedWithin(busy, 10*time.Millisecond) {
		t.Fatal("a connection sending a frame every 200 ms was closed as idle")
	}
	silent := dial(t, addr)
	start := time.Now()
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("a silent connection stayed open for 5 s")
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("a silent connection was closed after %v, before the idle bound", took)
	}
	// So is one that stops in the middle of a header.
	half := dial(t, addr)
	if _, err := half.Write(goodFrame(t)[:8]); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(half, 5*time.Second) {
		t.Fatal("a connection silent after half a header stayed open for 5 s")
	}
}

func TestConnectionsPastTheCapsAreClosedAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name          string
		total, host   int
		admitted, try int
	}{
		{"per host", 100, 4, 4, 12},
		{"in total", 3, 100, 3, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := newSink()
			tr, addr := startWith(t, recv, func(l *limits) { l.conns, l.connsPerHost = tc.total, tc.host })
			var conns []net.Conn
			for range tc.try {
				conns = append(conns, dial(t, addr))
			}
			// Accepted in order: the first ones are within the cap.
			open := 0
			for i, c := range conns {
				closed := closedWithin(c, 300*time.Millisecond)
				if !closed {
					open++
				}
				if i < tc.admitted && closed {
					t.Fatalf("connection %d of %d, within the cap, was closed", i, tc.admitted)
				}
			}
			if open != tc.admitted {
				t.Fatalf("%d connections open, want the cap %d", open, tc.admitted)
			}
			// The admitted ones still carry frames, and a closed one gives
			// its place back.
			if _, err := conns[0].Write(goodFrame(t)); err != nil {
				t.Fatal(err)
			}
			recv.wait(t, 1)
			conns[1].Close()
			deadline := time.Now().Add(5 * time.Second)
			for {
				c := dial(t, addr)
				if !closedWithin(c, 200*time.Millisecond) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("a place freed by a closed connection was not given back")
				}
			}
			// Transport.Close still ends every connection it admitted.
			tr.Close()
			if !closedWithin(conns[0], 5*time.Second) {
				t.Fatal("an admitted connection outlived Close")
			}
		})
	}
}

func TestSnapshotOutlivesTheIdleBoundChunkAfterChunk(t *testing.T) {
	recv := newSink()
	_, addr := startWith(t, recv, func(l *limits) { l.idle = 300 * time.Millisecond })
	sender, _ := start(t, newSink())
	sc, err := sender.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	// Ten chunks, the largest dragonboat makes, 100 ms apart: a second in
	// all, more than three idle bounds.
	const chunks = 10
	for i := range chunks {
		ch := pb.Chunk{ShardID: 7, ReplicaID: 2, ChunkId: uint64(i), ChunkCount: chunks,
			Filepath: "snapshot-000000000000000A/snapshot-000000000000000A.gbsnap",
			Data:     bytes.Repeat([]byte{byte(i)}, dbSnapshotChunkSize)}
		if err := sc.SendChunk(ch); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sc.Close()
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.chunks) != chunks {
		t.Fatalf("%d of %d chunks handled", len(recv.chunks), chunks)
	}
	for i, ch := range recv.chunks {
		if ch.ChunkId != uint64(i) || !bytes.Equal(ch.Data, bytes.Repeat([]byte{byte(i)}, dbSnapshotChunkSize)) {
			t.Fatalf("chunk %d arrived as chunk %d or with other data", i, ch.ChunkId)
		}
	}
}

func TestSenderRefusesFramesTheReceiverWould(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	sender, _ := start(t, newSink())
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMessageBatch(batch(1, maxBatchPayload)); err == nil {
		t.Fatal("a batch past the bound was sent")
	}
	sc, err := sender.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.SendChunk(pb.Chunk{ShardID: 7, Data: make([]byte, maxChunkPayload)}); err == nil {
		t.Fatal("a chunk past the bound was sent")
	}
	// The largest real batch passes: one 10 MiB entry, Wharf's largest
	// proposal, among heartbeats.
	b := batch(1, 10<<20)
	for i := range 2000 {
		b.Requests = append(b.Requests, pb.Message{Type: pb.Heartbeat, From: 1, To: 2, ShardID: uint64(i), Term: 3})
	}
	if err := c.SendMessageBatch(b); err != nil {
		t.Fatal(err)
	}
	recv.wait(t, 1)
}

// trickle reads what it holds a few bytes at a time.
type trickle struct {
	data []byte
	step int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestPayloadsArriveWholeAndGiveTheirBudgetBack(t *testing.T) {
	tr := Factory{}.Create(config.NodeHostConfig{RaftAddress: "127.0.0.1:0"}, nil, nil).(*Transport)
	free := func() int {
		tr.budget.mu.Lock()
		defer tr.budget.mu.Unlock()
		return tr.budget.free
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range []int{0, 1, segmentSize - 1, segmentSize, segmentSize + 1, 3 << 20, keepBuffer, keepBuffer + 1, 9 << 20} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		p, err := tr.readPayload(&trickle{data: want, step: 50 << 10}, n, deadline)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(*p.buf, want) {
			t.Fatalf("%d bytes: payload differs", n)
		}
		if c := cap(*p.buf); n <= keepBuffer && (c&(c-1) != 0 || c < segmentSize) {
			t.Fatalf("%d bytes in a buffer of %d, not a pooled class", n, c)
		}
		tr.done(p)
		if free() != payloadBudget {
			t.Fatalf("%d bytes: %d of the budget free after done, want all %d", n, free(), payloadBudget)
		}
	}
	// A short payload reports what arrived and gives the budget back.
	_, err := tr.readPayload(&trickle{data: make([]byte, 10), step: 10}, 1<<20, deadline)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short payload: %v, want unexpected EOF", err)
	}
	if free() != payloadBudget {
		t.Fatalf("%d of the budget free after a short payload, want all %d", free(), payloadBudget)
	}
}

func TestPayloadBudgetBoundsLongFramesInFlight(t *testing.T) {
	recv := newSink()
	_, addr := startWith(t, recv, func(l *limits) {
		l.payloadBudget = 1 << 20
		// Every frame gets a second: the liar's ends first.
		l.frameFloor, l.frameRate = time.Second, 1<<40
	})
	// A liar reserves the whole budget and sends nothing more.
	liar := dial(t, addr)
	if _, err := liar.Write(header(kindBatch, 1<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	// A short frame needs no budget and passes at once.
	if _, err := dial(t, addr).Write(goodFrame(t)); err != nil {
		t.Fatal(err)
	}
	recv.wait(t, 1)
	time.Sleep(300 * time.Millisecond)
	// A long one waits for the budget: once the liar is dropped at its
	// deadline, it passes.
	sender, _ := start(t, newSink())
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMessageBatch(batch(1, 200<<10)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(liar, 5*time.Second) {
		t.Fatal("the liar holding the budget was not dropped")
	}
	recv.wait(t, 1)
}

func TestCloseDoesNotWaitForFramesWaitingForBudget(t *testing.T) {
	recv := newSink()
	tr, addr := startWith(t, recv, func(l *limits) {
		l.payloadBudget = 1 << 20
		l.frameFloor = time.Minute
	})
	// One frame holds the budget, the next waits for it.
	for range 2 {
		if _, err := dial(t, addr).Write(header(kindBatch, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	tr.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v with a frame waiting for budget", took)
	}
}

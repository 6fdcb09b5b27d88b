package raftnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// sink records what a transport's handlers were given.
type sink struct {
	mu      sync.Mutex
	batches []pb.MessageBatch
	chunks  []pb.Chunk
	refuse  bool // the chunk handler refuses every chunk
	got     chan struct{}
}

func newSink() *sink { return &sink{got: make(chan struct{}, 1024)} }

func (s *sink) batch(b pb.MessageBatch) {
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.mu.Unlock()
	s.got <- struct{}{}
}

func (s *sink) chunk(c pb.Chunk) bool {
	s.mu.Lock()
	s.chunks = append(s.chunks, c)
	refuse := s.refuse
	s.mu.Unlock()
	s.got <- struct{}{}
	return !refuse
}

func (s *sink) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("handler not called in time")
		}
	}
}

// start starts a transport on a free 127.0.0.1 port.
func start(t *testing.T, s *sink) (*Transport, string) {
	t.Helper()
	return startWith(t, s, nil)
}

// startWith starts a transport whose limits shape changed first.
func startWith(t *testing.T, s *sink, shape func(*limits)) (*Transport, string) {
	t.Helper()
	tr := Factory{}.Create(config.NodeHostConfig{RaftAddress: "127.0.0.1:0"}, s.batch, s.chunk).(*Transport)
	if shape != nil {
		shape(&tr.limits)
		tr.budget = newBudget(tr.limits.payloadBudget)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, tr.Addr().String()
}

func batch(n, size int) pb.MessageBatch {
	b := pb.MessageBatch{SourceAddress: "127.0.0.1:1", BinVer: 210}
	for i := range n {
		b.Requests = append(b.Requests, pb.Message{
			Type: pb.Replicate, From: 1, To: 2, ShardID: 7, Term: 3, LogIndex: uint64(i),
			Entries: []pb.Entry{{Index: uint64(i + 1), Term: 3, Cmd: bytes.Repeat([]byte{byte(i)}, size)}},
		})
	}
	return b
}

func TestBatchesArriveWholeAndInOrder(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	sender, _ := start(t, newSink())
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Small batches, one larger than the read buffer, one larger than the
	// kept send buffer, then small again (the buffers shrink back).
	var sent []pb.MessageBatch
	for _, shape := range [][2]int{{1, 10}, {3, 200}, {2, 100 << 10}, {1, 5 << 20}, {4, 1}, {1, 0}} {
		b := batch(shape[0], shape[1])
		if err := c.SendMessageBatch(b); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, b)
	}
	recv.wait(t, len(sent))
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for i := range sent {
		want, _ := sent[i].Marshal()
		got, _ := recv.batches[i].Marshal()
		if !bytes.Equal(want, got) {
			t.Fatalf("batch %d differs after the trip", i)
		}
	}
}

func TestSnapshotCloseWaitsUntilEveryChunkIsHandled(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	sender, _ := start(t, newSink())
	sc, err := sender.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 20
	for i := range chunks {
		ch := pb.Chunk{ShardID: 7, ReplicaID: 2, ChunkId: uint64(i), ChunkCount: chunks, Data: bytes.Repeat([]byte{'c'}, 300<<10)}
		if err := sc.SendChunk(ch); err != nil {
			t.Fatal(err)
		}
	}
	sc.Close()
	// Close returned after the receiver acknowledged the end, which it
	// does only after handling every chunk before it.
	recv.mu.Lock()
	n := len(recv.chunks)
	recv.mu.Unlock()
	if n != chunks {
		t.Fatalf("Close returned with %d of %d chunks handled", n, chunks)
	}
	for i, ch := range recv.chunks {
		if ch.ChunkId != uint64(i) || len(ch.Data) != 300<<10 {
			t.Fatalf("chunk %d: id %d, %d bytes", i, ch.ChunkId, len(ch.Data))
		}
	}
}

func TestRefusedChunkEndsTheConnection(t *testing.T) {
	recv := newSink()
	recv.refuse = true
	_, addr := start(t, recv)
	sender, _ := start(t, newSink())
	sc, err := sender.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ch := pb.Chunk{ShardID: 7, Data: []byte("x")}
	if err := sc.SendChunk(ch); err != nil {
		t.Fatal(err)
	}
	recv.wait(t, 1)
	// The receiver closed: a later send fails (the first may still land
	// in the socket buffer before the reset arrives).
	deadline := time.Now().Add(10 * time.Second)
	for sc.SendChunk(ch) == nil {
		if time.Now().After(deadline) {
			t.Fatal("sends to a receiver that refused the snapshot keep succeeding")
		}
		time.Sleep(10 * time.Millisecond)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.chunks) != 1 {
		t.Fatalf("%d chunks handled after the refusal, want 1", len(recv.chunks))
	}
}

// raw writes bytes to the transport as a peer would, and reports whether
// the transport closed the connection afterwards.
func raw(t *testing.T, addr string, data []byte, wait time.Duration) (closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func goodFrame(t *testing.T) []byte {
	t.Helper()
	b := batch(1, 5)
	f := frame(nil, kindBatch, b.SizeUpperLimit())
	n, err := b.MarshalTo(f[headerSize:])
	if err != nil {
		t.Fatal(err)
	}
	f = f[:headerSize+n]
	binary.BigEndian.PutUint32(f[4:8], uint32(n))
	seal(f)
	return f
}

func TestBadFramesAreDroppedWithTheirConnection(t *testing.T) {
	recv := newSink()
	_, addr := start(t, recv)
	for name, corrupt := range map[string]func(f []byte) []byte{
		"payload bit flipped": func(f []byte) []byte { f[len(f)-1] ^= 1; return f },
		"header bit flipped":  func(f []byte) []byte { f[5] ^= 1; return f },
		"wrong magic": func(f []byte) []byte {
			f[0] = 'X'
			binary.BigEndian.PutUint32(f[12:16], crc32c(f[:12]))
			return f
		},
		"huge length, checksummed": func(f []byte) []byte {
			binary.BigEndian.PutUint32(f[4:8], maxBatchPayload+1)
			binary.BigEndian.PutUint32(f[12:16], crc32c(f[:12]))
			return f
		},
		"unknown kind": func(f []byte) []byte { f[2] = 9; seal(f); return f },
		"not a batch":  func(f []byte) []byte { f[headerSize] = 0xff; seal(f); return f },
		"garbage":      func([]byte) []byte { return bytes.Repeat([]byte{0xab}, 64) },
	} {
		t.Run(name, func(t *testing.T) {
			if !raw(t, addr, corrupt(goodFrame(t)), 10*time.Second) {
				t.Fatal("the connection stayed open after a bad frame")
			}
		})
	}
	recv.mu.Lock()
	n := len(recv.batches)
	recv.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d bad frames reached the handler", n)
	}
	// The transport still serves good frames on new connections.
	if raw(t, addr, goodFrame(t), 200*time.Millisecond) {
		t.Fatal("a good frame closed the connection")
	}
	recv.wait(t, 1)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func TestCloseEndsConnectionsAndHandlers(t *testing.T) {
	recv := newSink()
	tr, addr := start(t, recv)
	sender, _ := start(t, newSink())
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMessageBatch(batch(1, 1)); err != nil {
		t.Fatal(err)
	}
	recv.wait(t, 1)
	tr.Close()
	recv.mu.Lock()
	n := len(recv.batches)
	recv.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for c.SendMessageBatch(batch(1, 1)) == nil {
		if time.Now().After(deadline) {
			t.Fatal("sends to a closed transport keep succeeding")
		}
		time.Sleep(10 * time.Millisecond)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.batches) != n {
		t.Fatalf("a handler ran after Close returned")
	}
	if _, err := tr.GetConnection(context.Background(), addr); err == nil {
		t.Fatal("a closed transport dialled")
	}
}

func TestValidate(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7071": true, "node1:7071": true, "[::1]:7071": true,
		"127.0.0.1": false, ":7071": false, "127.0.0.1:x": false, "127.0.0.1:70000": false, "": false,
	} {
		if got := (Factory{}).Validate(addr); got != want {
			t.Errorf("Validate(%q) = %v, want %v", addr, got, want)
		}
	}
}

// BenchmarkBatchRoundTrip sends small batches (the size of a replicated
// 256-byte send) through the transport and waits for each to be handled.
func BenchmarkBatchRoundTrip(b *testing.B) {
	got := make(chan struct{}, 1)
	recv := Factory{}.Create(config.NodeHostConfig{RaftAddress: "127.0.0.1:0"},
		func(pb.MessageBatch) { got <- struct{}{} }, func(pb.Chunk) bool { return true }).(*Transport)
	if err := recv.Start(); err != nil {
		b.Fatal(err)
	}
	defer recv.Close()
	sender := Factory{}.Create(config.NodeHostConfig{RaftAddress: "127.0.0.1:0"}, nil, nil).(*Transport)
	c, err := sender.GetConnection(context.Background(), recv.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := batch(1, 300)
	for b.Loop() {
		if err := c.SendMessageBatch(m); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}

package raftnet

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// fuzzFrames turns data into frames whose checksums hold, so the fuzzer
// reaches the payload decoders: each frame is a kind byte, a uvarint
// length and that many payload bytes; a frame cut short ends the list.
func fuzzFrames(data []byte) []byte {
	var out []byte
	for len(data) > 0 {
		kind := data[0]
		n, k := binary.Uvarint(data[1:])
		if k <= 0 || n > uint64(len(data)-1-k) {
			break
		}
		payload := data[1+k : 1+k+int(n)]
		data = data[1+k+int(n):]
		f := frame(nil, kind, len(payload))
		copy(f[headerSize:], payload)
		seal(f)
		out = append(out, f...)
	}
	return out
}

// streamConn is a connection that reads a fixed stream, then EOF; it
// takes writes and deadlines and ignores them.
type streamConn struct {
	net.Conn
	in *bytes.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzFrame is one frame in fuzzFrames's input form.
func fuzzFrame(kind byte, payload []byte) []byte {
	return append(binary.AppendUvarint([]byte{kind}, uint64(len(payload))), payload...)
}

// FuzzServe feeds bytes to a connection's frame reader (serve) over an
// in-memory pipe: with sealed false as they are, with sealed true as
// frames with valid checksums (fuzzFrames). Whatever arrives, the reader
// must not panic, must end when the stream does, and must allocate in
// proportion to what arrived, not to what a header announced.
func FuzzServe(f *testing.F) {
	b := batch(2, 5)
	good, err := b.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	ch := pb.Chunk{ShardID: 2, ReplicaID: 1, From: 3, Index: 10, Term: 2, ChunkCount: 1, FileSize: 3, Data: []byte("abc"), BinVer: 210}
	chunk, err := ch.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	var whole []byte
	for _, fr := range [][]byte{fuzzFrame(kindBatch, good), fuzzFrame(kindChunk, chunk), fuzzFrame(kindBye, nil)} {
		whole = append(whole, fr...)
	}
	f.Add(whole, true)
	f.Add(fuzzFrame(kindBatch, good[:len(good)-3]), true)
	f.Add(fuzzFrame(9, []byte("x")), true)
	f.Add(fuzzFrames(whole), false)
	f.Add(header(kindBatch, maxBatchPayload), false)
	f.Add(header(kindChunk, 1<<20), false)
	f.Add([]byte("WR\x01\x01garbage garbage garbage"), false)
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		in := data
		if sealed {
			in = fuzzFrames(data)
		}
		var batches, chunks atomic.Int64
		tr := Factory{}.Create(config.NodeHostConfig{RaftAddress: "127.0.0.1:0"},
			func(pb.MessageBatch) { batches.Add(1) },
			func(pb.Chunk) bool { chunks.Add(1); return true }).(*Transport)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan struct{})
		tr.wg.Add(1)
		go func() {
			tr.serve(&streamConn{in: bytes.NewReader(in)})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("serve did not end after the stream did")
		}
		runtime.ReadMemStats(&after)
		// One payload buffer of a segment or of what arrived, and what
		// dragonboat's decoders make of it; a header alone announcing
		// up to maxBatchPayload must not cost it.
		if got, bound := after.TotalAlloc-before.TotalAlloc, uint64(4*segmentSize+readBuffer+64*len(in)+1<<20); got > bound {
			t.Fatalf("%d input bytes cost %d bytes of allocation (bound %d)", len(in), got, bound)
		}
		if n := batches.Load() + chunks.Load(); n > int64(bytes.Count(in, magic[:])) {
			t.Fatalf("%d frames handled from %d bytes", n, len(in))
		}
	})
}

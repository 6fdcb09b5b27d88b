package peerlink

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// byteConn is a connection that reads from a fixed input and keeps what
// is written to it: enough for the listener's side of the handshake.
type byteConn struct {
	net.Conn
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *byteConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *byteConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// FuzzHelloAccept runs the listener's side of the handshake on a fuzzed
// hello, against a node with a cluster key and one without. Whatever the
// bytes, it must not panic; with the key, only a hello carrying the right
// MAC and a fresh clock gets an ack, and that hello decodes as one of the
// two kinds. With sign set, the fuzzer's bytes get a valid MAC first, so
// it reaches the checks after the MAC.
func FuzzHelloAccept(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.UnixMilli(1_700_000_000_000)
	var good [helloSize]byte
	(&hello{kind: Raft, nodeID: 2, unixMs: now.UnixMilli(), nonce: [nonceSize]byte{1}}).encode(&good, peerKey(key), nil)
	f.Add(good[:], false)
	f.Add(good[:], true)
	var plain [helloSize]byte
	(&hello{kind: RPC, nodeID: 3, unixMs: now.UnixMilli()}).encode(&plain, nil, nil)
	f.Add(plain[:], false)
	f.Add(plain[:], true)
	f.Add(good[:40], false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, sign bool) {
		in := append([]byte(nil), data...)
		if sign && len(in) >= helloSize {
			in[6] |= flagMAC
			copy(in[macOffset:helloSize], helloMAC(peerKey(key), in[:macOffset], nil))
		}
		for _, withKey := range []bool{true, false} {
			opts := Options{NodeID: 1, Now: func() time.Time { return now }}
			if withKey {
				opts.ClusterKey = key
			}
			l, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			c := &byteConn{in: bytes.NewReader(in)}
			_, kind, err := l.accept(context.Background(), c)
			if err != nil {
				if c.out.Len() != 0 {
					t.Fatalf("refused hello %x (%v), yet %d bytes were sent back", in, err, c.out.Len())
				}
				continue
			}
			if len(in) < helloSize {
				t.Fatalf("a hello of %d bytes accepted", len(in))
			}
			var b [helloSize]byte
			copy(b[:], in)
			h, derr := decode(&b)
			if derr != nil || h.kind != kind || (kind != Raft && kind != RPC) {
				t.Fatalf("accepted hello %x of kind %v, which decodes as %+v, %v", in, kind, h, derr)
			}
			if withKey {
				if !h.mac || !checkMAC(&b, l.key, nil) || fresh(h.unixMs, now) != nil {
					t.Fatalf("accepted hello %x without a valid MAC and clock", in)
				}
				// The same hello again is a replay.
				if _, _, err := l.accept(context.Background(), &byteConn{in: bytes.NewReader(in)}); err == nil {
					t.Fatalf("hello %x accepted twice", in)
				}
			}
			if c.out.Len() != helloSize {
				t.Fatalf("ack of %d bytes", c.out.Len())
			}
			var a [helloSize]byte
			copy(a[:], c.out.Bytes())
			ack, err := decode(&a)
			if err != nil || ack.kind != kind || binary.BigEndian.Uint64(a[8:16]) != 1 {
				t.Fatalf("ack %x decodes as %+v, %v", a, ack, err)
			}
			if withKey && !checkMAC(&a, l.key, h.nonce[:]) {
				t.Fatalf("ack %x not bound to the hello's nonce", a)
			}
		}
	})
}

package raftnet

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/lni/dragonboat/v4/config"

	"github.com/wharfmq/wharf/transport/peerlink"
)

// startLinked starts a transport that accepts from a peerlink listener
// and dials through the link, as wharfd runs it.
func startLinked(t *testing.T, s *sink, key []byte) (*Transport, string) {
	t.Helper()
	link, err := peerlink.New(peerlink.Options{ClusterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := link.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	f := Factory{
		Listener: pl.Raft(),
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			return link.Dial(ctx, addr, peerlink.Raft)
		},
	}
	tr := f.Create(config.NodeHostConfig{RaftAddress: pl.Addr().String()}, s.batch, s.chunk).(*Transport)
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, pl.Addr().String()
}

// TestFramesThroughPeerlink: frames reach the handler through the link's
// handshake, and a transport without the cluster key cannot send any.
func TestFramesThroughPeerlink(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	recv := newSink()
	_, addr := startLinked(t, recv, key)
	sender, _ := startLinked(t, newSink(), key)
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMessageBatch(batch(2, 100)); err != nil {
		t.Fatal(err)
	}
	recv.wait(t, 1)

	stranger, _ := startLinked(t, newSink(), bytes.Repeat([]byte{4}, 32))
	if _, err := stranger.GetConnection(context.Background(), addr); err == nil {
		t.Fatal("a transport with another cluster key connected")
	}
}

package peer

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"github.com/wharfmq/wharf/transport/peerlink"
)

// joinService answers Join with the caller's record as the only member.
type joinService struct{ fakeService }

func (joinService) Join(_ context.Context, req *nodev1.JoinRequest) (*nodev1.JoinResponse, error) {
	return &nodev1.JoinResponse{Members: []*raftv1.NodeRecord{{NodeId: 4, RaftAddr: req.GetRaftAddr(), ApiAddr: req.GetApiAddr()}}}, nil
}

func link(t *testing.T, key []byte) *peerlink.Link {
	t.Helper()
	l, err := peerlink.New(peerlink.Options{ClusterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// dialer is the DialFunc of a link, as wharfd builds it.
func dialer(l *peerlink.Link) DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) { return l.Dial(ctx, addr, peerlink.RPC) }
}

// serveLinked serves svc on a peer port keyed with key, as wharfd does.
func serveLinked(t *testing.T, svc nodev1.NodeService, key []byte) string {
	t.Helper()
	pl, err := link(t, key).Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(svc, nil)}
	go srv.Serve(pl.RPC())
	t.Cleanup(func() { srv.Close(); pl.Close() })
	return pl.Addr().String()
}

// TestCallsThroughPeerlink: a node with the cluster key proposes and
// joins through the peer port; one with another key is refused before
// its request is sent (unavailable).
func TestCallsThroughPeerlink(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	addr := serveLinked(t, &joinService{}, key)
	member := NewClient(dialer(link(t, key)))
	t.Cleanup(member.Close)
	if got, err := member.Propose(ctx(t), node.Peer{ID: 1, RaftAddr: addr}, 3, []byte("cmd")); err != nil || string(got) != "done:cmd" {
		t.Fatalf("propose through the link = %q, %v", got, err)
	}
	members, err := member.Join(ctx(t), addr, &raftv1.NodeRecord{RaftAddr: "n4:7071", ApiAddr: "n4:7070"})
	if err != nil || len(members) != 1 || members[0].GetNodeId() != 4 || members[0].GetRaftAddr() != "n4:7071" {
		t.Fatalf("join through the link = %v, %v", members, err)
	}

	stranger := NewClient(dialer(link(t, bytes.Repeat([]byte{2}, 32))))
	t.Cleanup(stranger.Close)
	if _, err := stranger.Join(ctx(t), addr, &raftv1.NodeRecord{RaftAddr: "evil:1", ApiAddr: "evil:2"}); core.CodeOf(err) != core.Unavailable {
		t.Fatalf("join with another cluster key: %v, want unavailable (refused before anything was sent)", err)
	}
	if _, err := stranger.Propose(ctx(t), node.Peer{ID: 1, RaftAddr: addr}, 3, []byte("cmd")); core.CodeOf(err) != core.Unavailable {
		t.Fatalf("propose with another cluster key: %v, want unavailable", err)
	}
}

// Package peer is the production node-to-node transport: core/node's Peers
// as Twirp (protobuf) calls of wharf.node.v1.NodeService over HTTP/1.1,
// served on each node's peer port (its Raft address). The connections
// come from transport/peerlink, which authenticates both ends; this
// package only speaks HTTP over them. NodeService is never served on the
// API port.
package peer

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	// dialTimeout bounds connecting to a peer. A peer that cannot be
	// reached in this time is taken as down (Unavailable, so the caller
	// moves on to another): failing to connect proves nothing was sent.
	dialTimeout = 2 * time.Second
	// requestTimeout bounds a whole call whose context has no earlier
	// deadline: the longest Wait (20 s) plus a proposal's time.
	requestTimeout = 45 * time.Second
	// maxIdlePerPeer is how many idle connections are kept to each peer:
	// long polls hold one each while they wait.
	maxIdlePerPeer = 64
	idleTimeout    = 90 * time.Second

	// timeoutHeader carries the caller's remaining time, so that the peer
	// gives up when the caller does (HTTP does not carry deadlines).
	timeoutHeader = "Wharf-Timeout-Ms"
)

// Client implements node.Peers with one Twirp client per peer address.
type Client struct {
	http *http.Client

	mu    sync.Mutex
	conns map[string]nodev1.NodeService // by peer address
}

var _ node.Peers = (*Client)(nil)

// DialFunc opens a connection to a peer address, authenticated as
// transport/peerlink does (peerlink.Link.Dial with peerlink.RPC). A
// failure that proves nothing was sent must be a *net.OpError with Op
// "dial", so that the call is Unavailable and tried elsewhere.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// NewClient returns Peers over HTTP on connections from dial (plain TCP if
// nil: tests). It needs no addresses up front: every call names its peer's
// address.
func NewClient(dial DialFunc) *Client {
	if dial == nil {
		dialer := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return dialer.DialContext(ctx, "tcp", addr) }
	}
	return &Client{
		http: &http.Client{
			Timeout: requestTimeout,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
					ctx, cancel := context.WithTimeout(ctx, dialTimeout)
					defer cancel()
					return dial(ctx, addr)
				},
				MaxIdleConnsPerHost: maxIdlePerPeer,
				IdleConnTimeout:     idleTimeout,
			},
		},
		conns: make(map[string]nodev1.NodeService),
	}
}

// Close closes idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// conn returns the Twirp client for a peer address.
func (c *Client) conn(addr string) (nodev1.NodeService, error) {
	if addr == "" {
		return nil, core.Errorf(core.Unavailable, "no peer address")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.conns[addr]
	if !ok {
		// http:// because the dialled connection is already what it needs
		// to be (TLS, if any, is peerlink's).
		s = nodev1.NewNodeServiceProtobufClient("http://"+addr, c.http)
		c.conns[addr] = s
	}
	return s, nil
}

// call runs one RPC on the peer with the caller's deadline attached, and
// turns its error into a *core.Error.
func call[Req, Resp any](ctx context.Context, c *Client, to string, req Req,
	rpc func(nodev1.NodeService, context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	s, err := c.conn(to)
	if err != nil {
		return zero, err
	}
	if dl, ok := ctx.Deadline(); ok {
		h := http.Header{}
		h.Set(timeoutHeader, strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
		if ctx, err = twirp.WithHTTPRequestHeaders(ctx, h); err != nil {
			return zero, core.Errorf(core.Internal, "set request headers: %v", err)
		}
	}
	resp, err := rpc(s, ctx, req)
	if err != nil {
		return zero, fromTwirp(ctx, err)
	}
	return resp, nil
}

func (c *Client) Propose(ctx context.Context, to node.Peer, shardID uint64, cmd []byte) ([]byte, error) {
	resp, err := call(ctx, c, to.RaftAddr, &nodev1.ProposeRequest{ShardId: shardID, Command: cmd}, nodev1.NodeService.Propose)
	if err != nil {
		return nil, err
	}
	return resp.GetResult(), nil
}

func (c *Client) Read(ctx context.Context, to node.Peer, shardID uint64, q *raftv1.ShardQuery) (*raftv1.ShardQueryResult, error) {
	resp, err := call(ctx, c, to.RaftAddr, &nodev1.ReadRequest{ShardId: shardID, Query: q}, nodev1.NodeService.Read)
	if err != nil {
		return nil, err
	}
	return resp.GetResult(), nil
}

func (c *Client) Wait(ctx context.Context, to node.Peer, shardID uint64, partitionIDs []uint64, wait, lookback time.Duration) (bool, error) {
	resp, err := call(ctx, c, to.RaftAddr, &nodev1.WaitRequest{
		ShardId:      shardID,
		PartitionIds: partitionIDs,
		WaitMs:       uint32(min(max(wait.Milliseconds(), 0), 20000)),
		LookbackMs:   uint32(min(max(ceilMs(lookback), 0), 1<<31)),
	}, nodev1.NodeService.Wait)
	if err != nil {
		return false, err
	}
	return resp.GetWoken(), nil
}

func (c *Client) Status(ctx context.Context, to node.Peer) ([]*nodev1.ReplicaStatus, error) {
	resp, err := call(ctx, c, to.RaftAddr, &nodev1.StatusRequest{}, nodev1.NodeService.Status)
	if err != nil {
		return nil, err
	}
	return resp.GetReplicas(), nil
}

// ceilMs rounds d up to whole milliseconds: a lookback must not shrink.
func ceilMs(d time.Duration) int64 {
	return (d + time.Millisecond - 1).Milliseconds()
}

package network

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// ErrUnreachable is what a send to a node that is down or cut off returns;
// dragonboat then drops the connection and reconnects later.
var ErrUnreachable = errors.New("simulated network: unreachable")

// host is a registered Raft transport: the handlers of one NodeHost.
type host struct {
	mu       sync.Mutex // held while a handler runs, so Close waits for it
	closed   bool
	messages raftio.MessageHandler
	chunks   raftio.ChunkHandler
}

func (h *host) handleBatch(data []byte) {
	var b pb.MessageBatch
	if err := b.Unmarshal(data); err != nil {
		panic(fmt.Sprintf("simulated network: unmarshal a batch it marshalled: %v", err))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.messages(b)
	}
}

func (h *host) handleChunk(c pb.Chunk) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.closed && h.chunks(c)
}

// Factory returns the dragonboat transport factory of this network
// (config.ExpertConfig.TransportFactory). A NodeHost's Raft address is its
// name on the network.
func (n *Network) Factory() config.TransportFactory { return factory{n} }

type factory struct{ n *Network }

func (f factory) Create(nhc config.NodeHostConfig, mh raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	return &transport{n: f.n, addr: nhc.RaftAddress, h: &host{messages: mh, chunks: ch}}
}

// Validate accepts any address: they are names, not host:port.
func (factory) Validate(addr string) bool { return addr != "" }

type transport struct {
	n    *Network
	addr string
	h    *host
}

var _ raftio.ITransport = (*transport)(nil)

func (t *transport) Name() string { return "wharf-sim" }

func (t *transport) Start() error {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	t.n.hosts[t.addr] = t.h
	return nil
}

// Close unregisters the host; messages to it are lost from now on.
func (t *transport) Close() error {
	t.n.mu.Lock()
	if t.n.hosts[t.addr] == t.h {
		delete(t.n.hosts, t.addr)
	}
	t.n.mu.Unlock()
	t.h.mu.Lock()
	t.h.closed = true
	t.h.mu.Unlock()
	return nil
}

// reachable reports whether target can be connected to now.
func (t *transport) reachable(target string) error {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.n.cut(t.addr, target) || t.n.hosts[target] == nil {
		return fmt.Errorf("connect %s to %s: %w", t.addr, target, ErrUnreachable)
	}
	return nil
}

func (t *transport) GetConnection(_ context.Context, target string) (raftio.IConnection, error) {
	if err := t.reachable(target); err != nil {
		return nil, err
	}
	return &conn{n: t.n, from: t.addr, to: target}, nil
}

func (t *transport) GetSnapshotConnection(_ context.Context, target string) (raftio.ISnapshotConnection, error) {
	if err := t.reachable(target); err != nil {
		return nil, err
	}
	return &snapshotConn{n: t.n, from: t.addr, to: target}, nil
}

// conn carries Raft messages from one host to another.
type conn struct {
	n        *Network
	from, to string
}

func (c *conn) Close() {}

// SendMessageBatch sends each message of the batch on its own, as the
// next in its shard's stream on the link, with its own fate: how
// dragonboat happened to batch messages (which depends on goroutine
// scheduling within one virtual instant) then changes nothing.
func (c *conn) SendMessageBatch(b pb.MessageBatch) error {
	now := time.Now()
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.cut(c.from, c.to) || c.n.hosts[c.to] == nil {
		return fmt.Errorf("send %s to %s: %w", c.from, c.to, ErrUnreachable)
	}
	// In a canonical order: what dragonboat puts in one batch within one
	// virtual instant may come in either order (a proposal and a tick,
	// say), and positions must not depend on that.
	msgs := slices.Clone(b.Requests)
	slices.SortStableFunc(msgs, func(x, y pb.Message) int {
		return cmp.Or(cmp.Compare(x.ShardID, y.ShardID), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Term, y.Term),
			cmp.Compare(x.LogIndex, y.LogIndex), cmp.Compare(x.Commit, y.Commit), cmp.Compare(x.To, y.To))
	})
	for _, m := range msgs {
		one := b
		one.Requests = []pb.Message{m}
		s := stream{from: c.from, to: c.to, shard: m.ShardID, kind: kindRaft}
		pos, delay, drop := c.n.decide(s)
		if drop {
			continue
		}
		// Marshalled now: dragonboat may reuse the batch once we return.
		c.n.enqueue(&delivery{at: now.Add(delay), s: s, pos: pos, batch: pb.MustMarshal(&one)})
	}
	return nil
}

// snapshotConn carries one snapshot's chunks, in order: a chunk is never
// scheduled before the one sent ahead of it on the stream.
type snapshotConn struct {
	n        *Network
	from, to string
	mu       sync.Mutex
	failed   bool
}

func (c *snapshotConn) Close() {}

func (c *snapshotConn) fail() {
	c.mu.Lock()
	c.failed = true
	c.mu.Unlock()
}

func (c *snapshotConn) SendChunk(ch pb.Chunk) error {
	c.mu.Lock()
	failed := c.failed
	c.mu.Unlock()
	if failed {
		return fmt.Errorf("snapshot %s to %s: %w", c.from, c.to, ErrUnreachable)
	}
	now := time.Now()
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.cut(c.from, c.to) || c.n.hosts[c.to] == nil {
		return fmt.Errorf("snapshot %s to %s: %w", c.from, c.to, ErrUnreachable)
	}
	s := stream{from: c.from, to: c.to, shard: ch.ShardID, kind: kindChunk}
	pos, delay, _ := c.n.decide(s)
	at := now.Add(delay)
	if last := c.n.lastAt[s]; at.Before(last) {
		at = last
	}
	c.n.lastAt[s] = at
	// Copied: the sender may reuse the chunk's buffer.
	cp := ch
	cp.Data = append([]byte(nil), ch.Data...)
	c.n.enqueue(&delivery{at: at, s: s, pos: pos, chunk: &cp, sconn: c})
	return nil
}

// Package sim runs real Wharf nodes (core/node on the real dragonboat) in
// one process on a simulated network and disk, meant to run inside a
// testing/synctest bubble, where time is virtual: nothing here touches a
// real socket or file.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4/config"

	"github.com/wharfmq/wharf/core/node"
	"github.com/wharfmq/wharf/sim/disk"
	"github.com/wharfmq/wharf/sim/network"
)

// Options configures a Cluster.
type Options struct {
	Seed  uint64
	Nodes int // 3 if 0
	// QueueShards is how many queue shards the cluster creates; 1 if 0
	// (each shard costs goroutines and ticks on every node).
	QueueShards int
	Net         network.Config // its Seed is set from Seed
	// SnapshotEntries is node.Config.SnapshotEntries (0: the defaults);
	// small values make snapshots, log compaction and snapshot transfers
	// to lagging replicas frequent.
	SnapshotEntries uint64
	Logger          *slog.Logger // discards if nil
}

// startStagger spaces the nodes' start times, so that which node starts
// first does not depend on goroutine scheduling.
const startStagger = 7 * time.Millisecond

// Cluster is a running simulated cluster.
type Cluster struct {
	opts  Options
	Net   *network.Network
	nodes []*member
	mu    sync.Mutex // guards every member's node and epoch
}

// member is one node slot: its disk outlives the node's restarts.
type member struct {
	id   uint64
	addr string
	disk *disk.Disk
	cfg  node.Config
	node *node.Node // nil while down
	// epoch counts the node's crashes: an answer given by a node whose
	// epoch moved during the call was never sent (the process died).
	epoch uint64
	// skew is the offset of the node's wall clock from virtual time, in
	// nanoseconds (Config.Now).
	skew atomic.Int64
	// retired: removed from the cluster and stopped for good.
	retired bool
}

// Start starts every node of a new cluster and returns once all are ready.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.QueueShards == 0 {
		opts.QueueShards = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reseedDragonboat(opts.Seed)
	opts.Net.Seed = opts.Seed
	c := &Cluster{opts: opts, Net: network.New(opts.Net)}
	members := map[uint64]string{}
	for i := range opts.Nodes {
		id := uint64(i + 1)
		members[id] = fmt.Sprintf("n%d", id)
	}
	for i := range opts.Nodes {
		m, err := c.newMember(uint64(i+1), members)
		if err != nil {
			c.Net.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, m)
	}
	if err := c.startAll(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) newMember(id uint64, members map[uint64]string) (*member, error) {
	m := &member{id: id, addr: fmt.Sprintf("n%d", id), disk: disk.New()}
	dataDir := "/" + m.addr
	if err := m.disk.MkdirDurable(dataDir); err != nil {
		return nil, err
	}
	nodeSeed := c.opts.Seed ^ id<<56
	m.cfg = node.Config{
		NodeID:            id,
		DataDir:           dataDir,
		RaftAddr:          m.addr,
		APIAddr:           m.addr,
		InitialMembers:    members,
		QueueShards:       c.opts.QueueShards,
		ReplicationFactor: min(3, c.opts.Nodes),
		Peers:             c.Net.Peers(m.addr),
		Logger:            c.opts.Logger.With("node", id),
		Rand:              rand.NewChaCha8(seedBytes(nodeSeed)),
		FS:                m.disk.FS,
		SnapshotEntries:   c.opts.SnapshotEntries,
		Now:               func() time.Time { return time.Now().Add(time.Duration(m.skew.Load())) },
		ConfigureNodeHost: func(nhc *config.NodeHostConfig) {
			nhc.Expert.TransportFactory = c.Net.Factory()
			// Fixed, so nothing about a run depends on a random UUID.
			nhc.NodeHostID = fmt.Sprintf("00000000-0000-4000-8000-%012d", id)
			// One worker per stage: about 12 goroutines per NodeHost
			// instead of about 120, much faster in a bubble.
			nhc.Expert.Engine = config.EngineConfig{ExecShards: 1, CommitShards: 1, ApplyShards: 1, SnapshotShards: 1, CloseShards: 1}
		},
	}
	return m, nil
}

func seedBytes(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	return b
}

// startAll starts every node that is down, each startStagger after the
// previous, and waits until all are ready (they need each other for that).
func (c *Cluster) startAll(ctx context.Context) error {
	var wg sync.WaitGroup
	c.mu.Lock()
	var down []*member
	for _, m := range c.nodes {
		if m.node == nil && !m.retired {
			down = append(down, m)
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(down))
	for i, m := range down {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * startStagger)
			errs[i] = c.startMember(ctx, m)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startMember starts a node, starting it again if its start fails (a step
// of Start gave up while the cluster recovers, say), as a supervisor
// would restart a process that exited.
func (c *Cluster) startMember(ctx context.Context, m *member) error {
	var err error
	for range startAttempts {
		var n *node.Node
		n, err = node.Start(ctx, m.cfg)
		if err == nil {
			c.mu.Lock()
			m.node = n
			c.mu.Unlock()
			c.Net.Serve(m.addr, n)
			return nil
		}
		c.opts.Logger.Warn("node start failed; starting it again", "node", m.id, "err", err)
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("start node %d: %w", m.id, err)
}

// startAttempts bounds the starts of one node.
const startAttempts = 5

// Node returns node id (1-based), nil while it is down.
func (c *Cluster) Node(id uint64) *node.Node {
	n, _ := c.NodeEpoch(id)
	return n
}

// NodeEpoch returns node id (nil while down) and its epoch, the number of
// times it crashed: an answer from a node whose epoch changed during the
// call was never sent.
func (c *Cluster) NodeEpoch(id uint64) (*node.Node, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.nodes[id-1]
	return m.node, m.epoch
}

// Epoch returns how many times node id crashed.
func (c *Cluster) Epoch(id uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1].epoch
}

// Size returns the number of node slots.
func (c *Cluster) Size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// slot returns node id's slot; Join may grow the slots concurrently.
func (c *Cluster) slot(id uint64) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1]
}

// Addr returns node id's network address.
func (c *Cluster) Addr(id uint64) string { return c.slot(id).addr }

// SetClockSkew sets node id's wall clock to virtual time plus d (it stamps
// the node's proposals; dragonboat's own timers stay on virtual time).
func (c *Cluster) SetClockSkew(id uint64, d time.Duration) { c.slot(id).skew.Store(int64(d)) }

// ClockSkew returns node id's clock offset.
func (c *Cluster) ClockSkew(id uint64) time.Duration {
	return time.Duration(c.slot(id).skew.Load())
}

// Crash stops a node as a power cut would: it is cut off the network at
// once (so it cannot acknowledge anything from state it is about to lose),
// then stopped, and loses everything it had not synced. A retired node
// stays as it is.
func (c *Cluster) Crash(id uint64) {
	c.crashAll([]*member{c.slot(id)})
}

// Restart starts a crashed node again and waits until it is ready; a
// retired node is not started.
func (c *Cluster) Restart(ctx context.Context, id uint64) error {
	if c.Retired(id) {
		return nil
	}
	return c.startMember(ctx, c.slot(id))
}

// PowerLoss crashes every node at the same instant and restarts them all.
func (c *Cluster) PowerLoss(ctx context.Context) error {
	c.mu.Lock()
	all := slices.Clone(c.nodes)
	c.mu.Unlock()
	c.crashAll(all)
	return c.startAll(ctx)
}

// Retired reports whether node id was removed from the cluster for good.
func (c *Cluster) Retired(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1].retired
}

// Join starts a node in a new slot, with an empty disk, that joins the
// running cluster through node via (as wharfd --join does), and returns
// its id once it is ready.
func (c *Cluster) Join(ctx context.Context, via uint64) (uint64, error) {
	c.mu.Lock()
	id := uint64(len(c.nodes) + 1)
	c.mu.Unlock()
	m, err := c.newMember(id, nil)
	if err != nil {
		return 0, err
	}
	m.cfg.Join = c.Addr(via)
	c.mu.Lock()
	c.nodes = append(c.nodes, m)
	c.mu.Unlock()
	return id, c.startMember(ctx, m)
}

// Retire stops node id for good, as an operator stops a node the cluster
// has forgotten.
func (c *Cluster) Retire(id uint64) {
	c.mu.Lock()
	m := c.nodes[id-1]
	m.retired = true
	n := m.node
	m.node = nil
	c.mu.Unlock()
	c.Net.Unserve(m.addr)
	if n != nil {
		n.Close()
	}
}

func (c *Cluster) crashAll(ms []*member) {
	var closing []*node.Node
	c.mu.Lock()
	for _, m := range ms {
		if m.retired {
			continue
		}
		c.Net.Isolate(m.addr)
		c.Net.Unserve(m.addr)
		m.disk.PowerOff()
		m.epoch++
		if m.node != nil {
			closing = append(closing, m.node)
			m.node = nil
		}
	}
	c.mu.Unlock()
	for _, n := range closing {
		n.Close()
	}
	for _, m := range ms {
		m.disk.PowerOn()
		c.Net.Heal(m.addr)
	}
}

// Close stops every node and the network.
func (c *Cluster) Close() {
	for _, m := range c.nodes {
		c.mu.Lock()
		n := m.node
		m.node = nil
		c.mu.Unlock()
		if n != nil {
			c.Net.Unserve(m.addr)
			n.Close()
		}
	}
	c.Net.Close()
}

// Package network is the simulator's network: an in-memory dragonboat
// transport and an in-memory node.Peers, both under one fault model.
//
// Every decision (drop, delay, hence order) is a pure function of the seed,
// the link (from, to), the shard, the kind of stream and the message's
// position in that stream, so that the same run makes the same decisions
// whatever order goroutines happened to hand messages over in. One
// goroutine delivers messages one at a time, earliest first, with ties
// broken by (from, to, shard, kind, position).
package network

import (
	"container/heap"
	"slices"
	"sync"
	"time"
)

// Config is the fault model.
type Config struct {
	Seed uint64
	// MinDelay and MaxDelay bound a message's delay; 1 ms and 5 ms if 0.
	MinDelay, MaxDelay time.Duration
	// DropPerMillion is the share of Raft message groups and peer calls
	// lost on a healthy link. Snapshot chunks are never dropped on a
	// healthy link (a lost chunk only aborts the snapshot, slowly).
	DropPerMillion uint64
	// Record keeps a line per delivered message (see Log), to find where
	// two runs that should agree diverge.
	Record bool
}

// Stream kinds: each has its own positions on a link.
const (
	kindRaft  uint8 = iota // Raft messages of one shard
	kindChunk              // snapshot chunks of one shard
	kindPeer               // node-to-node calls about one shard
)

// stream is one ordered flow of messages on a link.
type stream struct {
	from, to string
	shard    uint64
	kind     uint8
}

// Network is a simulated network between nodes named by address (the same
// string serves as a node's Raft and API address).
type Network struct {
	cfg Config

	mu       sync.Mutex
	hosts    map[string]*host // registered Raft transports by address
	services map[string]Service
	isolated map[string]bool
	cutLinks map[[2]string]bool   // one-way cuts: from, to
	next     map[stream]uint64    // next position in each stream
	lastAt   map[stream]time.Time // latest delivery time of chunk streams
	pending  pendingHeap
	trace    tracer
	log      []string

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// New starts a network; Close stops it.
func New(cfg Config) *Network {
	if cfg.MinDelay == 0 {
		cfg.MinDelay = time.Millisecond
	}
	if cfg.MaxDelay < cfg.MinDelay {
		cfg.MaxDelay = max(cfg.MinDelay, 5*time.Millisecond)
	}
	n := &Network{
		cfg:      cfg,
		hosts:    map[string]*host{},
		services: map[string]Service{},
		isolated: map[string]bool{},
		cutLinks: map[[2]string]bool{},
		next:     map[stream]uint64{},
		lastAt:   map[stream]time.Time{},
		trace:    newTracer(),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go n.deliverLoop()
	return n
}

// Close stops delivering; messages still in flight are lost.
func (n *Network) Close() {
	close(n.stop)
	<-n.done
}

// Isolate cuts every link to and from addr at once: messages in flight
// either way are lost when they arrive, calls fail with Unavailable.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[addr] = true
}

// Heal reconnects addr.
func (n *Network) Heal(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, addr)
}

// Trace returns a hash of every message delivered so far (when, on which
// stream, and the Raft headers), and how many there were: two runs with
// equal traces behaved the same on the network.
func (n *Network) Trace() (hash uint64, delivered int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.trace.sum(), n.trace.count
}

// Log returns the recorded deliveries (Config.Record).
func (n *Network) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.log)
}

// CutLink cuts the link from one node to another, one way: messages from
// from to to are lost (those in flight too), the other way works.
func (n *Network) CutLink(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cutLinks[[2]string{from, to}] = true
}

// HealLinks restores every link CutLink cut (not isolated nodes).
func (n *Network) HealLinks() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cutLinks)
}

// SetFaults changes the fault model of healthy links from now on: the
// drop rate and the delay bounds (0 keeps the current bound).
func (n *Network) SetFaults(dropPerMillion uint64, minDelay, maxDelay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cfg.DropPerMillion = dropPerMillion
	if minDelay > 0 {
		n.cfg.MinDelay = minDelay
	}
	if maxDelay > 0 {
		n.cfg.MaxDelay = max(maxDelay, n.cfg.MinDelay)
	}
}

// Faults returns the current fault model.
func (n *Network) Faults() Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

// cut reports whether messages from a to b are lost; n.mu held.
func (n *Network) cut(a, b string) bool {
	return n.isolated[a] || n.isolated[b] || n.cutLinks[[2]string{a, b}]
}

// decide assigns the next position in s and returns the fate of the
// message there; n.mu held.
func (n *Network) decide(s stream) (pos uint64, delay time.Duration, drop bool) {
	pos = n.next[s]
	n.next[s] = pos + 1
	h := mix(n.cfg.Seed, hashString(s.from), hashString(s.to), s.shard, uint64(s.kind), pos)
	span := uint64(n.cfg.MaxDelay-n.cfg.MinDelay) + 1
	delay = n.cfg.MinDelay + time.Duration(h%span)
	drop = (h>>32)%1_000_000 < n.cfg.DropPerMillion
	return pos, delay, drop
}

// enqueue schedules a delivery; n.mu held.
func (n *Network) enqueue(d *delivery) {
	heap.Push(&n.pending, d)
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// deliverLoop delivers due messages one by one until Close.
func (n *Network) deliverLoop() {
	defer close(n.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		d, wait := n.popDue(time.Now())
		n.mu.Unlock()
		if d != nil {
			d.run()
			continue
		}
		timer.Reset(wait)
		select {
		case <-n.stop:
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// popDue returns the earliest due delivery, ready to run, or how long to
// wait for one; n.mu held. Deliveries over a link cut since they were sent
// are dropped here.
func (n *Network) popDue(now time.Time) (*delivery, time.Duration) {
	for n.pending.Len() > 0 {
		d := n.pending[0]
		if d.at.After(now) {
			return nil, d.at.Sub(now)
		}
		heap.Pop(&n.pending)
		if n.cut(d.s.from, d.s.to) {
			d.lost()
			continue
		}
		h := n.hosts[d.s.to]
		if h == nil {
			d.lost()
			continue
		}
		d.host = h
		n.trace.add(d)
		if n.cfg.Record {
			n.log = append(n.log, d.String())
		}
		return d, 0
	}
	return nil, time.Hour
}

package raftnet

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"time"
)

// How a frame's payload is read, so that what it costs follows what really
// arrives, whatever its header announced:
//
//   - A payload of at most segmentSize bytes (heartbeats, most batches) is
//     read into one pooled buffer.
//   - A longer one first reserves its length from the transport's payload
//     budget (waiting, until the frame's deadline, while other frames hold
//     it), then is read segment by segment into pooled segmentSize buffers,
//     and copied into one buffer only once all of it has arrived. A peer
//     that announces 64 MiB and sends ten bytes holds one segment; one that
//     sends 32 MiB holds 32 MiB, until the frame deadline drops it.
//
// The budget bounds the segments held by unfinished frames; the buffers of
// finished ones, which hold at most as much again, are counted until
// dragonboat has decoded them. So frames in flight hold at most twice the
// budget, whatever any number of connections sends.
//
// Buffers up to keepBuffer come from pools, one per power-of-two size class,
// and go back once decoded (dragonboat's Unmarshal copies what it keeps:
// entry commands, chunk data, strings). Larger ones (a big catch-up batch)
// are rare; they are allocated for the frame and left to the collector, so
// that an idle node does not keep tens of MiB it needed once.
const (
	segmentSize = 64 << 10
	minClass    = 16 // log2(segmentSize)
	maxClass    = 22 // log2(keepBuffer)
	numClasses  = maxClass - minClass + 1

	// payloadBudget bounds the bytes reserved by frames longer than a
	// segment. It lets three of the largest batches (68 MiB) arrive at
	// once, more than a node receives in practice (a follower catching up
	// gets one such batch at a time per shard and leader).
	payloadBudget = 256 << 20
)

// errNoBudget: the frame waited for the payload budget until its deadline.
var errNoBudget = errors.New("raftnet: payload budget exhausted")

// bufferPool hands out payload buffers by size class.
type bufferPool struct {
	classes [numClasses]sync.Pool // of *[]byte with cap 1<<(minClass+i)
}

// class is the index of the smallest pooled class holding n bytes, or -1
// if n is larger than every class.
func class(n int) int {
	if n <= segmentSize {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClass
	if c >= numClasses {
		return -1
	}
	return c
}

// get returns a buffer of length n: pooled when n fits a class, else new.
func (p *bufferPool) get(n int) *[]byte {
	c := class(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(minClass+c))
	return &b
}

// put returns a buffer from get to its pool; one of no class is dropped.
func (p *bufferPool) put(b *[]byte) {
	size := cap(*b)
	c := class(size)
	if c < 0 || 1<<(minClass+c) != size {
		return
	}
	p.classes[c].Put(b)
}

// budget is a count of bytes that frames reserve before reading, and wait
// for while others hold it.
type budget struct {
	mu      sync.Mutex
	free    int
	stopped bool          // the transport closed: nobody waits any more
	changed chan struct{} // closed, and replaced, when bytes come back or on stop
}

func newBudget(n int) *budget { return &budget{free: n, changed: make(chan struct{})} }

// acquire takes n bytes, waiting for them until deadline.
func (b *budget) acquire(n int, deadline time.Time) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.stopped {
			b.mu.Unlock()
			return errClosed
		}
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("%w: %d bytes not free in time", errNoBudget, n)
		}
	}
}

func (b *budget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	b.broadcast()
	b.mu.Unlock()
}

// stop ends every wait, now and later, so that Transport.Close need not
// wait for frame deadlines.
func (b *budget) stop() {
	b.mu.Lock()
	b.stopped = true
	b.broadcast()
	b.mu.Unlock()
}

// broadcast wakes the waiters; b.mu is held.
func (b *budget) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// payload is a frame's payload as read: give it back with done.
type payload struct {
	buf      *[]byte
	reserved int // bytes of the budget it holds
}

// readPayload reads a payload of n bytes from r, as the comment atop this
// file describes; deadline bounds the wait for the budget (the caller sets
// the same on the connection).
func (t *Transport) readPayload(r io.Reader, n int, deadline time.Time) (payload, error) {
	if n <= segmentSize {
		b := t.buffers.get(n)
		if _, err := io.ReadFull(r, *b); err != nil {
			t.buffers.put(b)
			return payload{}, fmt.Errorf("raftnet: read payload of %d bytes: %w", n, err)
		}
		return payload{buf: b}, nil
	}
	if err := t.budget.acquire(n, deadline); err != nil {
		return payload{}, err
	}
	var segments []*[]byte
	defer func() {
		for _, s := range segments {
			t.buffers.put(s)
		}
	}()
	for got := 0; got < n; {
		s := t.buffers.get(min(segmentSize, n-got))
		segments = append(segments, s)
		m, err := io.ReadFull(r, *s)
		got += m
		if err != nil {
			t.budget.release(n)
			return payload{}, fmt.Errorf("raftnet: read payload (%d of %d bytes): %w", got, n, err)
		}
	}
	b := t.buffers.get(n)
	at := 0
	for _, s := range segments {
		at += copy((*b)[at:], *s)
	}
	return payload{buf: b, reserved: n}, nil
}

// done gives a payload's buffer and reservation back.
func (t *Transport) done(p payload) {
	t.buffers.put(p.buf)
	t.budget.release(p.reserved)
}

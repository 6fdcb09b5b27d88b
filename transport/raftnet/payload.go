package raftnet

import (
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// A frame's payload is read in steps: the first into a buffer of at most
// firstStep bytes, each next one into a buffer twice as large (or just
// large enough), once the previous is full. The memory a payload holds is
// thus at most twice what has arrived (and at least firstStep), whatever
// length its header announced: a peer that announces 64 MiB and sends ten
// bytes costs one small buffer until the frame deadline drops it.
//
// Buffers up to keepBuffer come from pools, one per power-of-two size
// class, and go back to them once dragonboat has decoded the payload.
// Larger ones (a big catch-up batch) are rare; they are allocated for the
// frame and left to the collector, so that an idle node does not keep tens
// of MiB it needed once.
const (
	firstStep  = 64 << 10
	minClass   = 16 // log2(firstStep)
	maxClass   = 22 // log2(keepBuffer)
	numClasses = maxClass - minClass + 1
)

// bufferPool hands out payload buffers by size class.
type bufferPool struct {
	classes [numClasses]sync.Pool // of *[]byte with cap 1<<(minClass+i)
}

// class is the index of the smallest pooled class holding n bytes, or -1
// if n is larger than every class.
func class(n int) int {
	if n <= firstStep {
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

// read reads a payload of n bytes from r in growing steps. The buffer it
// returns holds the payload; give it back with put.
func (p *bufferPool) read(r io.Reader, n int) (*[]byte, error) {
	b := p.get(min(n, firstStep))
	got := 0
	for {
		m, err := io.ReadFull(r, (*b)[got:])
		got += m
		if err != nil {
			p.put(b)
			return nil, fmt.Errorf("raftnet: read payload (%d of %d bytes): %w", got, n, err)
		}
		if got == n {
			return b, nil
		}
		// The step is full and more is due: only now grow.
		next := p.get(min(n, 2*got))
		copy(*next, (*b)[:got])
		p.put(b)
		b = next
	}
}

package node

import "sync"

// wakeRegistry lets long polls wait for a partition to gain visible
// messages. Each watched partition has a channel that a wake closes (waking
// every waiter at once) and forgets; the next waiter makes a new one.
// Waiters take the channel before they look at the partition, so a wake
// between their look and their wait is not lost.
type wakeRegistry struct {
	mu sync.Mutex
	ch map[uint64]chan struct{}
}

func newWakeRegistry() *wakeRegistry {
	return &wakeRegistry{ch: make(map[uint64]chan struct{})}
}

// watch returns the channel the next wake of the partition closes.
func (r *wakeRegistry) watch(partitionID uint64) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ch[partitionID]
	if !ok {
		c = make(chan struct{})
		r.ch[partitionID] = c
	}
	return c
}

// wake wakes the partition's waiters. It never blocks: it runs on the
// shard's apply goroutine.
func (r *wakeRegistry) wake(partitionIDs []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range partitionIDs {
		if c, ok := r.ch[p]; ok {
			close(c)
			delete(r.ch, p)
		}
	}
}

// onWoken is the queue shards' Woken hook.
func (n *Node) onWoken(_ uint64, partitionIDs []uint64) {
	n.waits.wake(partitionIDs)
}

// onOutbox is the queue shards' Outbox hook: it kicks the dead-letter mover
// without blocking (one pending kick is enough).
func (n *Node) onOutbox(uint64) {
	select {
	case n.moverKick <- struct{}{}:
	default:
	}
}

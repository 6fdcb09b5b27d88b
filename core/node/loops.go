package node

import (
	"context"
	"time"
)

// startLoops starts the background loops; Close stops them. Each loop does
// bounded work per round and only on shards this node leads, so that in a
// cluster one node does each job.
func (n *Node) startLoops() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-n.stop
		cancel()
	}()
	for _, loop := range []func(context.Context){n.tickLoop, n.moverLoop, n.dropLoop, n.reconcileLoop, n.membershipLoop, n.driverLoop} {
		n.loops.Add(1)
		go func() {
			defer n.loops.Done()
			loop(ctx)
		}()
	}
}

// every runs f every interval (and whenever kick fires) until ctx ends.
func every(ctx context.Context, interval time.Duration, kick <-chan struct{}, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		f(ctx)
	}
}

package jepsen

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Nemeses lists every fault the harness can inject, by name.
var Nemeses = []string{
	"kill-one",          // kill -9 one node, restart it
	"kill-minority",     // kill -9 a minority at once, restart them
	"kill-leader",       // kill -9 the leader of the busiest queue shard
	"kill-all",          // kill -9 every node, restart them all
	"pause",             // SIGSTOP one node (the busy leader if known), SIGCONT
	"partition-isolate", // cut one node off from the others
	"partition-halves",  // split the nodes into two sides
	"partition-bridge",  // two sides that only one node hears both of
	"partition-oneway",  // one node's bytes to the others are dropped; theirs reach it
	"member-add",        // a new node joins (--join)
	"member-remove",     // RemoveNode: a node drains, is forgotten, stops
	"member-replace",    // kill -9 a node for good, remove it, a new one joins
	"clock-skew",        // restart one node with its clock shifted
	"restart-rolling",   // SIGTERM and restart every node, one at a time
}

// SmokeNemeses is the mix of the short run under make test: one of each
// family but membership, whose moves outlast a 30-second run.
var SmokeNemeses = []string{"kill-one", "kill-leader", "pause", "partition-isolate", "partition-oneway", "clock-skew"}

// maxSkew bounds the clock-skew nemesis's offsets: well inside the 5-minute
// deduplication window.
const maxSkew = 20 * time.Second

// Event is one nemesis action, with its interval since the run began.
type Event struct {
	Kind   string        `json:"kind"`
	Detail string        `json:"detail"`
	Start  time.Duration `json:"start_ns"`
	End    time.Duration `json:"end_ns"`
	Err    string        `json:"error,omitempty"`
}

// nemesis injects faults into a cluster on a schedule.
type nemesis struct {
	c        *Cluster
	kinds    []string
	rng      *mrand.Rand
	began    time.Time
	hold     time.Duration // how long a fault lasts
	quiet    time.Duration // healthy time between faults
	logf     func(string, ...any)
	mu       sync.Mutex
	events   []Event
	liveness []string
	broken   map[int]bool // nodes that did not come back: not picked, not waited for
	// minNodes is the cluster's size at start; membership keeps it within
	// [minNodes, minNodes+1].
	minNodes int
	// ahead is the furthest a node's clock ran ahead of real time (see
	// ClockAhead).
	ahead time.Duration
}

// run injects faults until ctx ends: every kind once in a shuffled order,
// then at random; each fault is healed before the next.
func (n *nemesis) run(ctx context.Context) {
	order := slices.Clone(n.kinds)
	n.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	// Membership moves first in the order that keeps the size in bounds.
	sort.SliceStable(order, func(i, j int) bool { return memberRank(order[i]) < memberRank(order[j]) })
	for i := 0; ; i++ {
		if !sleepCtx(ctx, n.quiet) {
			return
		}
		kind := ""
		if i < len(order) {
			kind = order[i]
		} else {
			kind = n.kinds[n.rng.IntN(len(n.kinds))]
		}
		n.inject(ctx, kind)
	}
}

// skewClock restarts the victim with its clock shifted by offset, holds
// the fault, and restarts it on time.
func (n *nemesis) skewClock(ctx, heal context.Context, victim int, offset time.Duration) error {
	nd := n.c.Node(victim)
	n.c.Kill(victim)
	if offset > 0 {
		n.mu.Lock()
		n.ahead = max(n.ahead, offset)
		n.mu.Unlock()
	}
	nd.ClockOffset = offset
	err := n.restart(ctx, []int{victim})
	n.wait(ctx)
	n.c.Stop(victim, 30*time.Second)
	nd.ClockOffset = 0
	if err2 := n.restart(heal, []int{victim}); err == nil {
		err = err2
	}
	return err
}

// ClockAhead is the furthest a node's clock ran ahead of real time during
// the run (0 if none did). Each queue shard's clock is the latest time its
// proposals carried (docs/design.md, "Time and ids"), so after the run it
// may be this far ahead of real time, and stands still until real time
// catches up.
func (n *nemesis) ClockAhead() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ahead
}

// memberRank orders the first pass: the membership changes come last, add
// before replace before remove, so the size stays at least what it was and
// the one pass that guarantees every kind runs is not held up by their
// slow moves (the random picks after the first pass mix them with the rest).
func memberRank(kind string) int {
	switch kind {
	case "member-add":
		return 1
	case "member-replace":
		return 2
	case "member-remove":
		return 3
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Events returns the events so far.
func (n *nemesis) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// inject runs one fault of the kind to its end (heal included) and records it.
func (n *nemesis) inject(ctx context.Context, kind string) {
	ev := Event{Kind: kind, Start: time.Since(n.began)}
	detail, err := n.do(ctx, kind)
	ev.End, ev.Detail = time.Since(n.began), detail
	if err != nil {
		ev.Err = err.Error()
	}
	n.logf("nemesis %-17s %6.1fs-%6.1fs %s%s", kind, ev.Start.Seconds(), ev.End.Seconds(), detail, errSuffix(err))
	n.mu.Lock()
	n.events = append(n.events, ev)
	n.mu.Unlock()
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (error: " + err.Error() + ")"
}

// hold waits for the fault's duration (cut short when the run ends: the
// fault is healed either way).
func (n *nemesis) wait(ctx context.Context) { sleepCtx(ctx, n.hold) }

func (n *nemesis) live() []int {
	var ids []int
	for _, nd := range n.c.Nodes() {
		if nd.Running() && !n.isBroken(nd.ID) {
			ids = append(ids, nd.ID)
		}
	}
	return ids
}

func (n *nemesis) pick(ids []int, k int) []int {
	ids = slices.Clone(ids)
	n.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:min(k, len(ids))]
}

// restart brings the nodes back and waits until they are ready. Nodes
// that are not ready within readyLimit are a liveness problem: it is
// noted (the report lists it), and they are killed and started again one
// at a time, which has always let them in.
func (n *nemesis) restart(ctx context.Context, ids []int) error {
	var errs []string
	for _, id := range ids {
		if err := n.c.Restart(id); err != nil {
			errs = append(errs, err.Error())
		}
	}
	var stuck []int
	deadline := time.Now().Add(readyLimit)
	for _, id := range ids {
		if n.isBroken(id) {
			continue // known not to come back: not waited for again
		}
		if err := n.c.WaitReady(ctx, id, time.Until(deadline)); err != nil && ctx.Err() == nil {
			stuck = append(stuck, id)
		}
	}
	if len(stuck) > 0 {
		n.note("nodes %v did not become ready after a restart (of %v; crashed, or not ready within %v) at %.1fs; killed and started again one at a time",
			stuck, ids, readyLimit, time.Since(n.began).Seconds())
		for _, id := range stuck {
			n.c.Kill(id)
		}
		for _, id := range stuck {
			if err := n.c.Restart(id); err != nil {
				errs = append(errs, err.Error())
			}
			if err := n.c.WaitReady(ctx, id, 30*time.Second); err != nil && ctx.Err() == nil {
				errs = append(errs, err.Error())
				n.note("node %d still not ready 30s after starting it alone: left running, no longer waited for or picked", id)
				n.mu.Lock()
				n.broken[id] = true
				n.mu.Unlock()
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// readyLimit is how long restarted nodes may take to be ready.
const readyLimit = 45 * time.Second

func (n *nemesis) isBroken(id int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.broken[id]
}

// healthy lists the node ids that are not broken.
func (n *nemesis) healthy() []int {
	var ids []int
	for _, id := range n.c.IDs() {
		if !n.isBroken(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// note records a liveness problem.
func (n *nemesis) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.logf("LIVENESS: %s", msg)
	n.mu.Lock()
	n.liveness = append(n.liveness, msg)
	n.mu.Unlock()
}

// Liveness returns the liveness problems noted.
func (n *nemesis) Liveness() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.liveness)
}

func (n *nemesis) do(ctx context.Context, kind string) (string, error) {
	// Faults are healed even when the run ends meanwhile.
	heal := context.WithoutCancel(ctx)
	ids := n.healthy()
	if len(ids) == 0 {
		return "", fmt.Errorf("no node left to inject faults into")
	}
	switch kind {
	case "kill-one", "kill-minority", "kill-leader", "kill-all":
		var victims []int
		switch kind {
		case "kill-one":
			victims = n.pick(ids, 1)
		case "kill-minority":
			victims = n.pick(ids, (len(ids)-1)/2)
		case "kill-leader":
			if l := n.c.BusyLeader(ctx); l != 0 {
				victims = []int{l}
			} else {
				victims = n.pick(ids, 1)
			}
		case "kill-all":
			victims = ids
		}
		for _, id := range victims {
			n.c.Kill(id)
		}
		if kind == "kill-all" {
			sleepCtx(ctx, min(n.hold, 3*time.Second))
		} else {
			n.wait(ctx)
		}
		return fmt.Sprintf("killed %v", victims), n.restart(heal, victims)
	case "pause":
		victim := n.c.BusyLeader(ctx)
		if victim == 0 {
			victim = n.pick(ids, 1)[0]
		}
		n.c.Pause(victim)
		n.wait(ctx)
		n.c.Resume(victim)
		return fmt.Sprintf("paused %d", victim), n.c.WaitReady(heal, victim, 60*time.Second)
	case "partition-isolate", "partition-halves", "partition-bridge", "partition-oneway":
		rules, detail := n.partition(kind, ids)
		n.c.Net.SetRules(rules)
		n.wait(ctx)
		n.c.Net.Heal()
		return detail, nil
	case "clock-skew":
		victim := n.pick(ids, 1)[0]
		secs := 2 + n.rng.IntN(int(maxSkew/time.Second)-1)
		if n.rng.IntN(2) == 0 {
			secs = -secs
		}
		err := n.skewClock(ctx, heal, victim, time.Duration(secs)*time.Second)
		return fmt.Sprintf("node %d clock %+ds", victim, secs), err
	case "restart-rolling":
		for _, id := range ids {
			n.c.Stop(id, 30*time.Second)
			if err := n.restart(heal, []int{id}); err != nil {
				return fmt.Sprintf("restarted %v", ids), err
			}
		}
		return fmt.Sprintf("restarted %v in turn", ids), nil
	case "member-add":
		if len(ids) > n.minNodes {
			return n.removeNode(ctx, heal)
		}
		return n.addNode(ctx, heal)
	case "member-remove":
		if len(ids) <= n.minNodes {
			return n.addNode(ctx, heal)
		}
		return n.removeNode(ctx, heal)
	case "member-replace":
		victim := n.pick(ids, 1)[0]
		n.c.Kill(victim)
		d, err := n.forget(heal, victim)
		if err != nil {
			n.c.Restart(victim) // not forgotten: bring it back
			return "replace " + d, err
		}
		a, err := n.addNode(ctx, heal)
		return fmt.Sprintf("killed %d for good, %s; %s", victim, d, a), err
	}
	return "", fmt.Errorf("unknown nemesis %q", kind)
}

// partition builds the rules of a partition kind over ids.
func (n *nemesis) partition(kind string, ids []int) (map[[2]int]bool, string) {
	rules := map[[2]int]bool{}
	cut := func(a, b []int) {
		for _, x := range a {
			for _, y := range b {
				rules[[2]int{x, y}], rules[[2]int{y, x}] = true, true
			}
		}
	}
	s := n.pick(ids, len(ids))
	switch kind {
	case "partition-isolate":
		cut(s[:1], s[1:])
		return rules, fmt.Sprintf("isolated %d from %v", s[0], sorted(s[1:]))
	case "partition-halves":
		h := len(s) / 2
		cut(s[:h], s[h:])
		return rules, fmt.Sprintf("halves %v | %v", sorted(s[:h]), sorted(s[h:]))
	case "partition-bridge":
		// s[0] is the bridge; the rest split in two sides that only it joins.
		rest := s[1:]
		h := len(rest) / 2
		cut(rest[:h], rest[h:])
		return rules, fmt.Sprintf("bridge %d between %v and %v", s[0], sorted(rest[:h]), sorted(rest[h:]))
	default: // partition-oneway
		for _, y := range s[1:] {
			rules[[2]int{s[0], y}] = true
		}
		return rules, fmt.Sprintf("node %d cannot send to %v (one way)", s[0], sorted(s[1:]))
	}
}

func sorted(ids []int) []int {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// addNode starts a node that joins the cluster and waits until it is ready
// and hosts a healthy replica.
func (n *nemesis) addNode(ctx, heal context.Context) (string, error) {
	via := n.pick(n.live(), 1)
	if len(via) == 0 {
		return "add", fmt.Errorf("no live node to join through")
	}
	nd, err := n.c.Join(via[0])
	if err != nil {
		return "add", err
	}
	detail := fmt.Sprintf("node %d joined via %d", nd.ID, via[0])
	if err := n.c.WaitReady(heal, nd.ID, 60*time.Second); err != nil {
		return detail, err
	}
	err = waitUntil(heal, 45*time.Second, func() bool {
		st, err := n.c.Status(heal)
		if err != nil {
			return false
		}
		for _, sh := range st.Shards {
			for _, r := range sh.Replicas {
				if int(r.NodeId) == nd.ID && r.Health == "healthy" {
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return detail, fmt.Errorf("node %d got no healthy replica: %w", nd.ID, err)
	}
	return detail + ", hosts replicas", nil
}

// removeNode removes a node with RemoveNode, waits until the cluster
// forgot it, then stops it.
func (n *nemesis) removeNode(ctx, heal context.Context) (string, error) {
	victim := n.pick(n.live(), 1)[0]
	d, err := n.forget(heal, victim)
	if err != nil {
		return "remove " + d, err
	}
	n.c.Stop(victim, 30*time.Second)
	n.c.Forget(victim)
	return "removed " + d, nil
}

// forget asks the cluster to remove node id and waits until it is gone
// from the cluster's node list.
func (n *nemesis) forget(ctx context.Context, id int) (string, error) {
	detail := fmt.Sprintf("node %d", id)
	var last error
	asked := false
	for _, via := range n.live() {
		if via == id {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, last = n.c.Admin(via).RemoveNode(cctx, &wharfv1.RemoveNodeRequest{NodeId: uint64(id)})
		cancel()
		if last == nil {
			asked = true
			break
		}
	}
	if !asked {
		return detail, fmt.Errorf("RemoveNode(%d): %v", id, last)
	}
	err := waitUntil(ctx, 90*time.Second, func() bool {
		st, err := n.c.Status(ctx)
		if err != nil {
			return false
		}
		for _, nd := range st.Nodes {
			if int(nd.NodeId) == id {
				return false
			}
		}
		return true
	})
	if err != nil {
		return detail, fmt.Errorf("node %d not forgotten: %w", id, err)
	}
	if nd := n.c.Node(id); nd != nil && !nd.Running() {
		n.c.Forget(id)
	}
	return detail, nil
}

func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", limit)
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// healAll ends every fault: links open, paused nodes resumed, clocks
// true, every node up. A node that cannot be made ready is a liveness
// problem (noted); the run goes on with the others.
func (n *nemesis) healAll(ctx context.Context) error {
	n.c.Net.Heal()
	var down []int
	for _, nd := range n.c.Nodes() {
		n.c.Resume(nd.ID)
		if nd.ClockOffset != 0 {
			n.c.Kill(nd.ID)
			nd.ClockOffset = 0
		}
		if !nd.Running() {
			down = append(down, nd.ID)
		}
	}
	if err := n.restart(ctx, down); err != nil {
		n.note("after the run, not every node came back: %v", err)
	}
	ready := 0
	for _, id := range n.c.IDs() {
		limit := 60 * time.Second
		if n.isBroken(id) {
			limit = 10 * time.Second
		}
		if err := n.c.WaitReady(ctx, id, limit); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n.note("after the run, node %d is not ready: %v", id, err)
			continue
		}
		ready++
	}
	if ready == 0 {
		return fmt.Errorf("no node is ready after the run")
	}
	return nil
}

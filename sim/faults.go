package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/core/node"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/sim/network"
)

// Fault kinds, as counted in a run's report.
const (
	FaultDrop      = "drop"
	FaultDelay     = "delay"
	FaultIsolate   = "partition_isolate"
	FaultHalves    = "partition_halves"
	FaultOneWay    = "partition_oneway"
	FaultCrash     = "crash"
	FaultPowerLoss = "power_loss"
	FaultSkew      = "clock_skew"
	FaultJump      = "clock_jump"
	FaultBridge    = "partition_bridge"
	FaultHandOff   = "leader_transfer"
	FaultReplace   = "replace_node"
)

// faultWeights is how often each kind is drawn.
//
// A slow disk is not among them: a sync that sleeps in virtual time while
// its caller holds a mutex leaves the goroutines waiting on that mutex not
// durably blocked, so synctest never advances time and the run hangs (seen
// with a sleeping Sync wrapper, seed 858089051). Slowness is modelled by
// network delay instead.
var faultWeights = []struct {
	kind   string
	weight int
}{
	{FaultDrop, 12}, {FaultDelay, 12}, {FaultIsolate, 12}, {FaultHalves, 6}, {FaultOneWay, 10},
	{FaultCrash, 14}, {FaultPowerLoss, 3}, {FaultSkew, 8}, {FaultJump, 8},
	{FaultBridge, 6}, {FaultHandOff, 8}, {FaultReplace, 4},
}

// maxReplaces bounds node replacements per run: each adds a node slot,
// and a replacement holds off crashes while it runs.
const maxReplaces = 1

// replaceBudget bounds one replacement: join, drain of the removed node,
// its removal from every shard.
const replaceBudget = 2 * time.Minute

// Clock faults keep every node within maxSkew of virtual time, far inside
// the deduplication window, so that request ids stay remembered all run.
const maxSkew = 5 * time.Second

// faults injects faults drawn from a seed on a schedule, and undoes them.
type faults struct {
	c    *Cluster
	rng  *rand.Rand
	base network.Config

	mu      sync.Mutex
	counts  map[string]int
	busy    int // nodes down or restarting, or a power loss under way
	errs    []error
	netDrop uint64
	netMax  time.Duration
	wg      sync.WaitGroup // restarts in flight
	// replaces counts node replacements started (only inject touches it).
	replaces int
}

func newFaults(c *Cluster, seed uint64) *faults {
	base := c.Net.Faults()
	return &faults{c: c, rng: rand.New(rand.NewPCG(seed, 0xfa17)), base: base, counts: map[string]int{},
		netDrop: base.DropPerMillion, netMax: base.MaxDelay}
}

// undo is a fault's end, due at a time.
type undo struct {
	at time.Time
	f  func()
}

// run injects faults until the deadline; undos due before it are applied
// on time, the rest by heal.
func (f *faults) run(ctx context.Context, deadline time.Time) {
	var undos []undo
	for {
		wait := time.Duration(f.rng.ExpFloat64() * float64(1200*time.Millisecond))
		wait = min(max(wait, 100*time.Millisecond), 4*time.Second)
		next := time.Now().Add(wait)
		// Apply the undos due before the next fault.
		sort.SliceStable(undos, func(i, j int) bool { return undos[i].at.Before(undos[j].at) })
		for len(undos) > 0 && !undos[0].at.After(next) && undos[0].at.Before(deadline) {
			time.Sleep(time.Until(undos[0].at))
			undos[0].f()
			undos = undos[1:]
		}
		time.Sleep(time.Until(next))
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		if u := f.inject(ctx); u != nil {
			undos = append(undos, *u)
		}
	}
	// Heal undoes the rest; undos that restart nodes still must run.
	for _, u := range undos {
		u.f()
	}
}

// duration draws how long a fault lasts.
func (f *faults) duration() time.Duration {
	return 300*time.Millisecond + time.Duration(f.rng.Int64N(int64(4*time.Second)))
}

func (f *faults) count(kind string) {
	f.mu.Lock()
	f.counts[kind]++
	f.mu.Unlock()
}

func (f *faults) pickKind() string {
	total := 0
	for _, w := range faultWeights {
		total += w.weight
	}
	r := f.rng.IntN(total)
	for _, w := range faultWeights {
		if r < w.weight {
			return w.kind
		}
		r -= w.weight
	}
	return faultWeights[0].kind
}

func (f *faults) applyNet() {
	f.c.Net.SetFaults(f.netDrop, f.base.MinDelay, f.netMax)
}

// inject applies one fault and returns its undo (nil if none or skipped).
func (f *faults) inject(ctx context.Context) *undo {
	n := f.c.Size()
	kind := f.pickKind()
	d := f.duration()
	at := time.Now().Add(d)
	node := uint64(f.rng.IntN(n)) + 1
	switch kind {
	case FaultDrop:
		f.netDrop = uint64(20_000 + f.rng.IntN(300_000))
		f.applyNet()
		f.count(kind)
		return &undo{at, func() { f.netDrop = f.base.DropPerMillion; f.applyNet() }}
	case FaultDelay:
		f.netMax = time.Duration(20+f.rng.IntN(300)) * time.Millisecond
		f.applyNet()
		f.count(kind)
		return &undo{at, func() { f.netMax = f.base.MaxDelay; f.applyNet() }}
	case FaultIsolate:
		for o := uint64(1); o <= uint64(n); o++ {
			if o != node {
				f.cutBoth(node, o)
			}
		}
		f.count(kind)
		return &undo{at, f.c.Net.HealLinks}
	case FaultHalves:
		// A random split into two non-empty sides.
		side := make([]bool, n+1)
		for {
			any0, any1 := false, false
			for i := 1; i <= n; i++ {
				side[i] = f.rng.IntN(2) == 0
				any0, any1 = any0 || side[i], any1 || !side[i]
			}
			if any0 && any1 {
				break
			}
		}
		for a := 1; a <= n; a++ {
			for b := a + 1; b <= n; b++ {
				if side[a] != side[b] {
					f.cutBoth(uint64(a), uint64(b))
				}
			}
		}
		f.count(kind)
		return &undo{at, f.c.Net.HealLinks}
	case FaultOneWay:
		to := uint64(f.rng.IntN(n-1)) + 1
		if to >= node {
			to++
		}
		f.c.Net.CutLink(f.c.Addr(node), f.c.Addr(to))
		f.count(kind)
		return &undo{at, f.c.Net.HealLinks}
	case FaultBridge:
		// node sees both others, which do not see each other: each side
		// can reach a majority only through the bridge.
		var others []uint64
		for o := uint64(1); o <= uint64(n); o++ {
			if o != node {
				others = append(others, o)
			}
		}
		for i, a := range others {
			for _, b := range others[i+1:] {
				f.cutBoth(a, b)
			}
		}
		f.count(kind)
		return &undo{at, f.c.Net.HealLinks}
	case FaultHandOff:
		// The node hands off every shard it leads; if it leads none, the
		// next one is asked, so that some leader moves.
		for i := range n {
			id := (node-1+uint64(i))%uint64(n) + 1
			nd := f.c.Node(id)
			if nd == nil {
				continue
			}
			if moved, err := nd.HandOffLeadership(ctx); err == nil && moved > 0 {
				f.count(kind)
				break
			}
		}
		return nil
	case FaultSkew:
		f.c.SetClockSkew(node, time.Duration(f.rng.Int64N(int64(2*maxSkew)))-maxSkew)
		f.count(kind)
		return nil
	case FaultJump:
		j := time.Duration(500+f.rng.IntN(2500)) * time.Millisecond
		if f.rng.IntN(2) == 0 {
			j = -j
		}
		f.c.SetClockSkew(node, min(max(f.c.ClockSkew(node)+j, -maxSkew), maxSkew))
		f.count(kind)
		return nil
	case FaultReplace:
		if f.replaces >= maxReplaces || !f.claim() {
			return nil
		}
		f.replaces++
		f.count(kind)
		pick := f.rng.Uint64() // the goroutine must not share f.rng
		f.wg.Go(func() { f.done(f.replace(ctx, pick), "replace a node") })
		return nil
	case FaultCrash:
		// At most one node down at a time, so that the cluster keeps a
		// quorum between faults.
		if f.c.Retired(node) || !f.claim() {
			return nil
		}
		f.c.Crash(node)
		f.count(kind)
		return &undo{at, func() { f.restart(ctx, node) }}
	case FaultPowerLoss:
		if !f.claim() {
			return nil
		}
		f.count(kind)
		f.wg.Go(func() {
			err := f.c.PowerLoss(ctx)
			f.done(err, "power loss")
		})
		return nil
	}
	return nil
}

// replace replaces a node under load, as an operator would: a new node
// joins, a live one is removed (the cluster moves its replicas to the
// others, the new one included, and forgets it), and the removed node is
// stopped for good. pick chooses the nodes.
func (f *faults) replace(ctx context.Context, pick uint64) error {
	ctx, cancel := context.WithTimeout(ctx, replaceBudget)
	defer cancel()
	var live []uint64
	for id := uint64(1); id <= uint64(f.c.Size()); id++ {
		if f.c.Node(id) != nil {
			live = append(live, id)
		}
	}
	if len(live) < 3 {
		return nil
	}
	via := live[pick%uint64(len(live))]
	victim := live[(pick/7)%uint64(len(live))]
	joined, err := f.c.Join(ctx, via)
	if err != nil {
		return fmt.Errorf("node joining via %d: %w", via, err)
	}
	member := func() *node.Node { return f.c.Node(joined) }
	// Each call has its own deadline, as an operator's CLI call does; the
	// budget bounds them all.
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, opTimeout) }
	for {
		cctx, cancel := call()
		_, err := member().RemoveNode(cctx, &wharfv1.RemoveNodeRequest{NodeId: victim})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("remove node %d: %w", victim, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for {
		cctx, cancel := call()
		st, err := member().GetClusterStatus(cctx, &wharfv1.GetClusterStatusRequest{})
		cancel()
		if err == nil && !slices.ContainsFunc(st.GetNodes(), func(n *wharfv1.ClusterNode) bool { return n.GetNodeId() == victim }) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("node %d still in the cluster %v after its removal (last error: %v)", victim, replaceBudget, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	f.c.Retire(victim)
	return nil
}

// claim takes the one slot for a fault that takes nodes down (crash,
// power loss, replacement), so that the cluster keeps a quorum between
// faults; false while another holds it. done gives it back.
func (f *faults) claim() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy > 0 {
		return false
	}
	f.busy++
	return true
}

func (f *faults) cutBoth(a, b uint64) {
	f.c.Net.CutLink(f.c.Addr(a), f.c.Addr(b))
	f.c.Net.CutLink(f.c.Addr(b), f.c.Addr(a))
}

// restart starts a crashed node again in the background.
func (f *faults) restart(ctx context.Context, id uint64) {
	f.wg.Go(func() {
		err := f.c.Restart(ctx, id)
		f.done(err, fmt.Sprintf("restart of node %d", id))
	})
}

func (f *faults) done(err error, what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy--
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("%s: %w", what, err))
	}
}

// heal ends every fault: links back, network back to its base model,
// clocks back on time, every node up.
func (f *faults) heal(ctx context.Context) error {
	f.wg.Wait()
	f.c.Net.HealLinks()
	f.netDrop, f.netMax = f.base.DropPerMillion, f.base.MaxDelay
	f.applyNet()
	for id := uint64(1); id <= uint64(f.c.Size()); id++ {
		f.c.SetClockSkew(id, 0)
		if f.c.Node(id) == nil {
			if err := f.c.Restart(ctx, id); err != nil {
				f.errs = append(f.errs, fmt.Errorf("restart of node %d at heal: %w", id, err))
			}
		}
	}
	if len(f.errs) > 0 {
		var b strings.Builder
		for i, e := range f.errs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(e.Error())
		}
		return fmt.Errorf("%s", b.String())
	}
	return nil
}

// Counts returns the faults injected, by kind.
func (f *faults) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

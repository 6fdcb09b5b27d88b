package jepsen

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	lin "github.com/wharfmq/wharf/linearizability"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// TestDrainOutlastsLeasesOfAClockAhead: messages leased through a node
// whose clock runs ahead are leased on a queue shard clock that stays
// ahead of real time after the node is back on time. The drain must wait
// for those leases to end on that clock, or it stops while they are still
// in flight and the checkers report them lost (the Jepsen run of seed
// 1796406898588429492 did, with a node 16 s ahead just before the heal).
// One real wharfd process; it kills it when it ends.
func TestDrainOutlastsLeasesOfAClockAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	const (
		ahead = maxSkew // the furthest the clock-skew nemesis goes
		sends = 10
	)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := Build(repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := NewCluster(bin, dir, 1, nil, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	w := newWorkload(c, []string{"total"}, 5*time.Second, began)
	if err := w.setup(ctx); err != nil {
		t.Fatal(err)
	}
	cl := &client{w: w, id: 0, rng: mrand.New(mrand.NewPCG(1, 1))}
	for i := range sends {
		in := lin.Input{Body: fmt.Sprintf("s-%d", i), RequestID: newRequestID()}
		if cl.send(ctx, QueueStd, in, false) != lin.OutcomeOK {
			t.Fatalf("send %d failed", i)
		}
	}

	// Lease every message while the node's clock is ahead, and never
	// delete them: they are the drain's to find.
	nem := &nemesis{c: c, rng: mrand.New(mrand.NewPCG(1, 7)), began: began, hold: 3 * time.Second,
		logf: t.Logf, minNodes: 1, broken: map[int]bool{}}
	type leases struct {
		msgs []lin.Received
		at   time.Time // when the last receive answered
	}
	leased := make(chan leases, 1)
	go func() {
		msgs := leaseWhileAhead(ctx, w, cl, nem, sends)
		leased <- leases{msgs, time.Now()}
	}()
	if err := nem.skewClock(ctx, ctx, 1, ahead); err != nil {
		t.Fatal(err)
	}
	got := <-leased
	if len(got.msgs) != sends {
		t.Fatalf("leased %d of %d messages while the clock was ahead", len(got.msgs), sends)
	}
	for _, m := range got.msgs {
		// The lease began on the shard clock the skewed node set.
		if lead := time.UnixMilli(m.AppliedAtMs).Sub(got.at); lead < ahead/2 {
			t.Fatalf("message %s leased at shard time %v ahead of real time: not on a clock %v ahead", m.Body, lead, ahead)
		}
	}
	if nem.ClockAhead() != ahead {
		t.Fatalf("nemesis recorded the clock %v ahead, want %v", nem.ClockAhead(), ahead)
	}

	if err := settleAndDrain(ctx, w, nem.ClockAhead(), t.Logf); err != nil {
		t.Fatal(err)
	}
	for _, res := range append(Check(w.rec.History(), []string{"total"}, t.TempDir()), w.checkEmpty(ctx)) {
		if !res.Valid {
			t.Errorf("%s checker: %d anomalies: %v", res.Checker, res.AnomalyCount, res.Anomalies)
		}
	}
}

// leaseWhileAhead waits until the nemesis has restarted the node with its
// clock ahead, then receives (recorded, never deleted) until it holds want
// messages or a few seconds passed. It touches the node only through its
// API, which stays at one address across restarts.
func leaseWhileAhead(ctx context.Context, w *workload, cl *client, nem *nemesis, want int) []lin.Received {
	for nem.ClockAhead() == 0 {
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return nil
		}
	}
	// The node on time was killed before ClockAhead was set: the first
	// answer comes from the skewed one.
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := w.svc(1).GetQueue(cctx, &wharfv1.GetQueueRequest{Queue: QueueStd})
		cancel()
		if err == nil {
			break
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return nil
		}
	}
	var got []lin.Received
	for deadline := time.Now().Add(2 * time.Second); len(got) < want && time.Now().Before(deadline); {
		msgs, _ := cl.receive(ctx, cl.id, QueueStd, int32(want-len(got)), maxVisibility, 0)
		got = append(got, msgs...)
	}
	return got
}

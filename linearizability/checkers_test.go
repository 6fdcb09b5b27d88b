package linearizability

import (
	"os"
	"testing"
)

const fq = "jobs.fifo"

func TestFIFOValid(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "", "id-a", 10)
	b.send(0, fq, "b", "g", "", "id-b", 11)
	b.send(0, fq, "x", "h", "", "id-x", 12)
	b.recv(1, fq, 1, 20, "a#1")          // lease of a until 1020
	b.recv(2, fq, 1, 1100, "a#2", "b#1") // a redelivered after expiry, with b
	b.del(2, fq, "a", 2, 1200)
	b.del(2, fq, "b", 1, 1201)
	b.recv(1, fq, 1, 1300, "x#1")
	b.del(1, fq, "x", 1, 1301)
	opts := Options{VisualizeDir: t.TempDir()}
	expectValid(t, CheckFIFO(b.h(), opts))
	expectValid(t, CheckTotal(b.h(), opts))
}

func TestFIFOOutOfOrder(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "", "id-a", 10)
	b.send(0, fq, "b", "g", "", "id-b", 11)
	b.recv(1, fq, 30, 20, "b#1")
	dir := t.TempDir()
	r := CheckFIFO(b.h(), Options{VisualizeDir: dir})
	expectInvalid(t, r, "out of order")
	if r.Visualization == "" {
		t.Fatal("no visualization written")
	}
	if _, err := os.Stat(r.Visualization); err != nil {
		t.Fatal(err)
	}
}

func TestFIFOBatchInFlight(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "", "id-a", 10)
	b.send(0, fq, "b", "g", "", "id-b", 11)
	b.recv(1, fq, 30, 20, "a#1", "b#1")
	b.del(1, fq, "a", 1, 30)
	b.recv(2, fq, 30, 40, "b#2") // b still leased until 30020
	expectInvalid(t, CheckFIFO(b.h(), Options{}), "leased until")
}

func TestFIFOWithoutLogTimesOnlyClearViolations(t *testing.T) {
	// No log times: a redelivery of the head cannot be judged, a skip can.
	b := newHB()
	b.send(0, fq, "a", "g", "", "id-a", 0)
	b.send(0, fq, "b", "g", "", "id-b", 0)
	b.recv(1, fq, 30, 0, "a#1")
	b.recv(2, fq, 30, 0, "a#2")
	expectValid(t, CheckFIFO(b.h(), Options{}))
	b.recv(2, fq, 30, 0, "b#1")
	expectInvalid(t, CheckFIFO(b.h(), Options{}), "out of order")
}

func TestFIFODedup(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "d1", "id-a", 10)
	b.send(0, fq, "a2", "g", "d1", "id-a", 20) // deduplicated: same id
	b.recv(1, fq, 30, 30, "a#1")
	b.del(1, fq, "a", 1, 40)
	expectValid(t, CheckFIFO(b.h(), Options{}))
	expectValid(t, CheckTotal(b.h(), Options{}))

	b = newHB()
	b.send(0, fq, "a", "g", "d1", "id-a", 10)
	b.send(0, fq, "a2", "g", "d1", "id-a2", 20) // new id within the window
	b.recv(1, fq, 30, 30, "a#1", "a2#1")
	expectInvalid(t, CheckFIFO(b.h(), Options{}), "dedup violation")
	expectInvalid(t, CheckTotal(b.h(), Options{}), "dedup violation")

	b = newHB() // past the window: a new message is right
	b.send(0, fq, "a", "g", "d1", "id-a", 10)
	b.send(0, fq, "a2", "g", "d1", "id-a2", 10+DedupWindowMs)
	b.recv(1, fq, 1, 20+DedupWindowMs, "a#1", "a2#1")
	b.del(1, fq, "a", 1, 30+DedupWindowMs)
	b.del(1, fq, "a2", 1, 40+DedupWindowMs)
	expectValid(t, CheckFIFO(b.h(), Options{}))
	expectValid(t, CheckTotal(b.h(), Options{}))
}

func TestStandardValid(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.send(0, "q", "b", "", "", "id-b", 11)
	b.recv(1, "q", 1, 20, "a#1", "b#1")
	b.chvis(1, "q", "b", 1, 0, 30) // b visible again at once
	b.recv(2, "q", 5, 40, "b#2")   // fine: visibility changed to 0
	b.recv(2, "q", 5, 1500, "a#2") // fine: a's lease ended at 1020
	b.del(1, "q", "a", 1, 1600)    // stale handle: must be refused, so record it as failed
	b.r.h.Ops[len(b.r.h.Ops)-1].Outcome = OutcomeFail
	b.del(2, "q", "a", 2, 1700)
	b.del(2, "q", "b", 2, 1701)
	b.del(2, "q", "b", 2, 1702) // deleting a deleted message succeeds
	expectValid(t, CheckStandard(b.h(), Options{}))
	expectValid(t, CheckTotal(b.h(), Options{}))
}

func TestStandardTwoLeases(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 30, 20, "a#1")
	b.recv(2, "q", 30, 25, "a#2") // a leased until 30020
	expectInvalid(t, CheckStandard(b.h(), Options{}), "leased until")

	// Without log times, the same receive count twice is still two leases.
	b = newHB()
	b.send(0, "q", "a", "", "", "id-a", 0)
	b.recv(1, "q", 30, 0, "a#1")
	b.recv(2, "q", 30, 0, "a#1")
	expectInvalid(t, CheckStandard(b.h(), Options{}), "two leases")
}

func TestStandardDeliveryAfterDelete(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.del(1, "q", "a", 1, 30)
	b.recv(2, "q", 1, 5000, "a#2")
	expectInvalid(t, CheckStandard(b.h(), Options{}), "after it was deleted")
}

func TestStandardStaleHandleAccepted(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.recv(2, "q", 1, 2000, "a#2")
	b.del(1, "q", "a", 1, 2100)
	expectInvalid(t, CheckStandard(b.h(), Options{}), "stale handle")
}

func TestStandardUnknownOps(t *testing.T) {
	// An unknown send may show up; an unknown delete may or may not have
	// happened; an unknown receive may have taken the message silently.
	b := newHB()
	b.sendOutcome(0, "q", "a", OutcomeUnknown)
	b.recv(1, "q", 1, 20, "a#1")
	i := b.r.Invoke(1, KindDelete, "q", Input{ReceiptHandle: "h-a-1"})
	b.r.Complete(i, OutcomeUnknown, Output{})
	i = b.r.Invoke(2, KindReceive, "q", Input{VisibilitySeconds: 1})
	b.r.Complete(i, OutcomeUnknown, Output{})
	b.recv(2, "q", 1, 5000, "a#3")
	expectValid(t, CheckStandard(b.h(), Options{}))
	r := CheckTotal(b.h(), Options{})
	expectValid(t, r)
	if r.Counts.Recovered != 1 {
		t.Fatalf("recovered: %+v", r.Counts)
	}
}

func TestTotalLost(t *testing.T) {
	b := newHB()
	for _, x := range []string{"a", "b", "c", "d", "e"} {
		b.send(0, "q", x, "", "", "id-"+x, 10)
	}
	b.recv(1, "q", 30, 20, "b#1", "d#1")
	b.del(1, "q", "b", 1, 21)
	b.del(1, "q", "d", 1, 22)
	r := CheckTotal(b.h(), Options{})
	expectInvalid(t, r, "never delivered")
	c := r.Counts
	if c.Lost != 3 || c.LostPrefix != 1 || c.LostMiddle != 1 || c.LostSuffix != 1 || c.OK != 2 {
		t.Fatalf("counts: %+v", c)
	}
	// Delivered and never deleted, yet the drain did not find it: lost too.
	b = newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.send(0, "q", "b", "", "", "id-b", 11)
	b.recv(1, "q", 1, 20, "a#1", "b#1")
	b.del(1, "q", "b", 1, 21)
	b.recv(1, "q", 30, 5000) // the drain, after a's lease expired
	r = CheckTotal(b.h(), Options{})
	expectInvalid(t, r, `"a" (id id-a) delivered, never deleted`)
	if r.Counts.Lost != 1 || r.Counts.OK != 1 {
		t.Fatalf("counts: %+v", r.Counts)
	}
}

func TestTotalUnexpected(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.sendOutcome(0, "q", "f", OutcomeFail)
	b.recv(1, "q", 30, 20, "a#1", "ghost#1", "f#1")
	r := CheckTotal(b.h(), Options{})
	expectInvalid(t, r, "never sent")
	expectInvalid(t, r, "whose send failed")
	if r.Counts.Unexpected != 2 {
		t.Fatalf("counts: %+v", r.Counts)
	}
	expectInvalid(t, CheckStandard(b.h(), Options{}), "not sent")
}

func TestTotalPurge(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	i := b.r.Invoke(0, KindPurge, "q", Input{})
	b.r.Complete(i, OutcomeOK, Output{AppliedAtMs: 15})
	b.send(0, "q", "b", "", "", "id-b", 20)
	b.recv(1, "q", 30, 30, "b#1")
	b.del(1, "q", "b", 1, 31)
	r := CheckTotal(b.h(), Options{})
	expectValid(t, r)
	if r.Counts.Purged != 1 {
		t.Fatalf("counts: %+v", r.Counts)
	}
	b.recv(1, "q", 30, 40000, "a#1") // delivered after the purge
	expectInvalid(t, CheckStandard(b.h(), Options{}), "deleted or purged")
}

func TestReplicas(t *testing.T) {
	h1, h2 := [32]byte{1}, [32]byte{2}
	ok := []ReplicaState{{1, 2, 10, h1}, {2, 2, 10, h1}, {3, 2, 9, h2}, {1, 3, 10, h2}}
	expectValid(t, CheckReplicas(ok))
	bad := append(ok, ReplicaState{3, 2, 10, h2})
	expectInvalid(t, CheckReplicas(bad), "shard 2 index 10: node 3")
}

func TestResolveUnknown(t *testing.T) {
	r := NewRecorder()
	i := r.Invoke(0, KindSend, "q", Input{Body: "a", RequestID: "ra"})
	r.Complete(i, OutcomeUnknown, Output{})
	i = r.Invoke(0, KindSendBatch, "q", Input{Entries: []SendEntry{{Body: "b", RequestID: "rb"}, {Body: "c", RequestID: "rc"}}})
	r.Complete(i, OutcomeUnknown, Output{})
	i = r.Invoke(0, KindSend, "q", Input{Body: "d", RequestID: "rd"})
	r.Complete(i, OutcomeUnknown, Output{})
	applied := map[string]bool{"ra": true, "rb": true, "rc": false}
	h := ResolveUnknown(r.History(), func(id string) (bool, bool) { a, ok := applied[id]; return a, ok })
	if len(h.Ops) != 4 {
		t.Fatalf("batch not split: %+v", h.Ops)
	}
	want := []Outcome{OutcomeOK, OutcomeOK, OutcomeFail, OutcomeUnknown}
	for i, op := range h.Ops {
		if op.Outcome != want[i] || op.ID != i {
			t.Fatalf("op %d: %+v, want %s", i, op, want[i])
		}
	}
	// Resolved ok sends must come out; the receive matches by body.
	h.Ops = append(h.Ops, Op{ID: 4, Kind: KindReceive, Queue: "q", Outcome: OutcomeOK, Call: 100, Return: 101,
		Output: Output{Messages: recvd("a#1", "b#1")}})
	for i, body := range []string{"a", "b"} {
		h.Ops = append(h.Ops, Op{ID: 5 + i, Kind: KindDelete, Queue: "q", Outcome: OutcomeOK, Call: int64(102 + 2*i), Return: int64(103 + 2*i),
			Input: Input{ReceiptHandle: "h-" + body + "-1"}})
	}
	expectValid(t, CheckTotal(h, Options{}))
	expectValid(t, CheckStandard(h, Options{}))
}

// dlqHistory: q moves a message to d after two deliveries.
func dlqHistory() *hb {
	b := newHB()
	b.r.SetQueue("q", QueueInfo{DeadLetter: "d", MaxReceiveCount: 2})
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.send(0, "q", "b", "", "", "id-b", 11)
	b.recv(1, "q", 1, 20, "a#1", "b#1")
	b.del(1, "q", "b", 1, 30)
	b.recv(1, "q", 1, 1100, "a#2")
	b.recv(1, "q", 1, 2200) // finds a received twice: moves it
	b.recv(2, "d", 30, 2300, "a#1")
	b.del(2, "d", "a", 1, 2400)
	return b
}

func TestDeadLetterValid(t *testing.T) {
	b := dlqHistory()
	r := CheckTotal(b.h(), Options{})
	expectValid(t, r)
	if r.Counts.DeadLettered != 1 || r.Counts.OK != 2 || r.Counts.Unexpected != 0 {
		t.Fatalf("counts: %+v", r.Counts)
	}
	expectValid(t, CheckStandard(b.h(), Options{}))
}

func TestDeadLetterInBothQueues(t *testing.T) {
	b := dlqHistory()
	b.recv(1, "q", 30, 40000, "a#2") // still in the source after the move
	expectInvalid(t, CheckTotal(b.h(), Options{}), "in both queues")
	b = dlqHistory()
	b.recv(1, "q", 30, 40000, "a#3")
	expectInvalid(t, CheckTotal(b.h(), Options{}), "above max_receive_count 2")
}

func TestDeadLetterDoubledAndLost(t *testing.T) {
	b := dlqHistory()
	b.recv(2, "d", 30, 40000, "a#1") // a second copy in the DLQ, leased again at once
	expectInvalid(t, CheckStandard(b.h(), Options{}), "a")

	b = newHB()
	b.r.SetQueue("q", QueueInfo{DeadLetter: "d", MaxReceiveCount: 1})
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.recv(1, "q", 1, 2200) // moves a, which never reaches d
	b.recv(2, "d", 30, 2300)
	expectInvalid(t, CheckTotal(b.h(), Options{}), "lost")
}

func TestDeadLetterPurged(t *testing.T) {
	b := newHB()
	b.r.SetQueue("q", QueueInfo{DeadLetter: "d", MaxReceiveCount: 1})
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.recv(1, "q", 1, 2200) // moves a
	b.recv(2, "d", 1, 2300, "a#1")
	i := b.r.Invoke(0, KindPurge, "d", Input{})
	b.r.Complete(i, OutcomeOK, Output{AppliedAtMs: 2400})
	b.recv(2, "d", 30, 5000) // the drain finds nothing: purged
	r := CheckTotal(b.h(), Options{})
	expectValid(t, r)
	if r.Counts.Purged != 1 {
		t.Fatalf("counts: %+v", r.Counts)
	}
}

// Without log times a second id for one deduplication id is a violation
// only when the driver vouches that the window cannot have passed.
func TestFIFODedupWithinWindowWithoutLogTimes(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "d1", "id-a", 0)
	b.send(0, fq, "a2", "g", "d1", "id-a2", 0)
	b.recv(1, fq, 30, 0, "a#1", "a2#1")
	b.del(1, fq, "a", 1, 0)
	b.del(1, fq, "a2", 1, 0)
	h := b.h()
	expectValid(t, CheckFIFO(h, Options{}))
	expectValid(t, CheckTotal(h, Options{}))
	h.WithinDedupWindow = true
	expectInvalid(t, CheckFIFO(h, Options{}), "dedup violation")
	expectInvalid(t, CheckTotal(h, Options{}), "dedup violation")
	if got := ResolveUnknown(h, func(string) (bool, bool) { return false, false }); !got.WithinDedupWindow {
		t.Fatal("ResolveUnknown dropped WithinDedupWindow")
	}
}

// A send deduplicated into a message that a purge removed is purged too.
func TestTotalDedupIntoPurged(t *testing.T) {
	b := newHB()
	b.send(0, fq, "a", "g", "d1", "id-a", 10)
	i := b.r.Invoke(0, KindPurge, fq, Input{})
	b.r.Complete(i, OutcomeOK, Output{AppliedAtMs: 15})
	b.send(0, fq, "a2", "g", "d1", "id-a", 20) // deduplicated: nothing stored
	b.recv(1, fq, 30, 30)
	r := CheckTotal(b.h(), Options{})
	expectValid(t, r)
	if r.Counts.Purged != 2 {
		t.Fatalf("counts: %+v", r.Counts)
	}
}

func TestExpiredBeforeDrain(t *testing.T) {
	build := func(drainFinds bool) History {
		b := newHB()
		b.r.SetQueue("r", QueueInfo{ExpireBeforeDrain: true})
		b.send(0, "r", "a", "", "", "id-a", 10)
		b.send(0, "r", "b", "", "", "id-b", 11)
		b.recv(1, "r", 30, 20, "b#1")
		b.del(1, "r", "b", 1, 21)
		b.r.MarkDrain()
		if drainFinds {
			b.recv(1, "r", 30, 90000, "a#1")
			b.del(1, "r", "a", 1, 90001)
		} else {
			b.recv(1, "r", 30, 90000)
		}
		return b.h()
	}
	r := CheckTotal(build(false), Options{})
	expectValid(t, r)
	if r.Counts.Expired != 1 || r.Counts.OK != 1 {
		t.Fatalf("counts: %+v", r.Counts)
	}
	expectInvalid(t, CheckTotal(build(true), Options{}), "after its retention period")
}

// After a dead-letter move, a delete with the source's handle succeeds
// (the message is gone from the source, as a deleted one is): not a stale
// handle accepted.
func TestDeadLetterOldHandleDeleteAfterMove(t *testing.T) {
	b := newHB()
	b.r.SetQueue("q", QueueInfo{DeadLetter: "d", MaxReceiveCount: 2})
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.recv(1, "q", 1, 1100, "a#2")
	b.recv(1, "q", 1, 2200) // moves a
	b.recv(2, "d", 30, 2300, "a#1")
	b.del(1, "q", "a", 1, 2400) // the handle of the first delivery
	b.del(2, "d", "a", 1, 2500)
	expectValid(t, CheckStandard(b.h(), Options{}))
	expectValid(t, CheckTotal(b.h(), Options{}))

	// Without a move, the same delete is a stale handle accepted.
	b = newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 1, 20, "a#1")
	b.recv(1, "q", 1, 1100, "a#2")
	b.del(1, "q", "a", 1, 2400)
	expectInvalid(t, CheckStandard(b.h(), Options{}), "stale handle")
}

package linearizability

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// refQueue is a small in-memory queue used as a test double: the correct
// variant must pass every checker, each planted bug must be caught.
type refQueue struct {
	fifo    bool
	bug     string
	now     int64
	msgs    []*refMsg
	dedup   map[string]*refMsg
	applied map[string]bool // request ids of applied commands, as the simulator records them
	sends   int
}

type refMsg struct {
	id, body, group string
	count           int32
	visibleAt       int64
	gone            bool
}

func (q *refQueue) send(body, group, dedupID, reqID string) string {
	q.applied[reqID] = true
	for _, k := range []string{"d:" + dedupID, "r:" + reqID} {
		if k == "d:" || k == "r:" || (k[0] == 'd' && q.bug == "ignore dedup") {
			continue
		}
		if m, ok := q.dedup[k]; ok {
			return m.id
		}
	}
	q.sends++
	m := &refMsg{id: "id-" + body, body: body, group: group}
	if q.bug == "lose ack" && q.sends%7 == 3 {
		return m.id // acknowledged, never stored
	}
	q.msgs = append(q.msgs, m)
	for _, k := range []string{"d:" + dedupID, "r:" + reqID} {
		if k != "d:" && k != "r:" {
			q.dedup[k] = m
		}
	}
	return m.id
}

func (q *refQueue) visible(m *refMsg) bool {
	return !m.gone && (m.visibleAt <= q.now || q.bug == "ignore visibility")
}

func (q *refQueue) receive(max int, vis int32) []Received {
	var got []*refMsg
	if !q.fifo {
		for _, m := range q.msgs {
			if len(got) < max && q.visible(m) {
				got = append(got, m)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, m := range q.msgs {
			if m.gone || seen[m.group] {
				continue
			}
			seen[m.group] = true
			var live []*refMsg
			blocked := false
			for _, x := range q.msgs {
				if x.group == m.group && !x.gone {
					live = append(live, x)
					if !q.visible(x) {
						blocked = true
					}
				}
			}
			if blocked {
				continue
			}
			if q.bug == "skip fifo head" && len(live) > 1 {
				live = live[1:]
			}
			for _, x := range live {
				if len(got) < max {
					got = append(got, x)
				}
			}
		}
	}
	var out []Received
	for _, m := range got {
		m.count++
		m.visibleAt = q.now + int64(vis)*1000
		out = append(out, Received{MessageID: m.id, Body: m.body, GroupID: m.group, ReceiveCount: m.count, ReceiptHandle: fmt.Sprintf("%s|%d", m.id, m.count)})
	}
	return out
}

func (q *refQueue) find(handle string) (*refMsg, int32) {
	var id string
	var n int32
	i := strings.LastIndex(handle, "|")
	id = handle[:i]
	fmt.Sscan(handle[i+1:], &n)
	for _, m := range q.msgs {
		if m.id == id {
			return m, n
		}
	}
	return nil, n
}

// handleOp returns whether the state machine accepted the handle.
func (q *refQueue) handleOp(kind Kind, handle string, vis int32) bool {
	m, n := q.find(handle)
	if m == nil {
		return kind == KindDelete // a lost message counts as deleted
	}
	if m.gone {
		return kind == KindDelete
	}
	if m.count != n {
		return false
	}
	if kind == KindDelete {
		if q.bug != "delete noop" {
			m.gone = true
		}
	} else {
		m.visibleAt = q.now + int64(vis)*1000
	}
	return true
}

type pending struct {
	id      int
	kind    Kind
	in      Input
	out     Output
	outcome Outcome
	applied bool
}

// genHistory runs 4 clients over one queue for nOps ops, interleaving
// invocation, application and return at random, with timeouts, then
// drains the queue after every lease expired.
func genHistory(seed int64, fifo bool, bug string, nOps int) (History, *refQueue) {
	rng := rand.New(rand.NewSource(seed))
	q := &refQueue{fifo: fifo, bug: bug, dedup: map[string]*refMsg{}, applied: map[string]bool{}}
	name := "std"
	if fifo {
		name = "ref.fifo"
	}
	rec := NewRecorder()
	rec.SetQueue(name, QueueInfo{FIFO: fifo})
	const clients = 4
	cur := make([]*pending, clients)
	handles := make([][]string, clients)
	started, bodies := 0, 0
	groupOf := map[int]string{}
	apply := func(c int, p *pending) {
		q.now += int64(rng.Intn(400))
		p.out.AppliedAtMs = q.now
		p.applied = true
		if p.in.RequestID != "" {
			q.applied[p.in.RequestID] = true
		}
		p.outcome = OutcomeOK
		switch p.kind {
		case KindSend:
			p.out.MessageIDs = []string{q.send(p.in.Body, p.in.GroupID, p.in.DedupID, p.in.RequestID)}
		case KindReceive:
			p.out.Messages = q.receive(int(p.in.MaxMessages), p.in.VisibilitySeconds)
		case KindDelete, KindChangeVisibility:
			if !q.handleOp(p.kind, p.in.ReceiptHandle, p.in.VisibilitySeconds) {
				p.outcome = OutcomeFail
			}
		}
	}
	for started < nOps || anyPending(cur) {
		c := rng.Intn(clients)
		p := cur[c]
		switch {
		case p == nil && started < nOps:
			started++
			p = &pending{}
			switch r := rng.Intn(10); {
			case r < 4:
				bodies++
				p.kind = KindSend
				p.in = Input{Body: fmt.Sprintf("m%d", bodies), RequestID: fmt.Sprintf("r%d", bodies)}
				if fifo {
					p.in.GroupID = fmt.Sprintf("g%d", rng.Intn(2))
					p.in.DedupID = fmt.Sprintf("d%d", bodies)
					if rng.Intn(5) == 0 && bodies > 1 {
						// A second send under a recent dedup id, in the same
						// group (the checker partitions by group): must get
						// that message's id and store nothing.
						p.in.DedupID = fmt.Sprintf("d%d", bodies-1)
						p.in.GroupID = groupOf[bodies-1]
					}
					groupOf[bodies] = p.in.GroupID
				}
			case r < 7 || len(handles[c]) == 0:
				p.kind = KindReceive
				p.in = Input{MaxMessages: int32(1 + rng.Intn(3)), VisibilitySeconds: int32(1 + rng.Intn(2))}
			case r < 9:
				p.kind = KindDelete
				p.in = Input{ReceiptHandle: handles[c][0], RequestID: fmt.Sprintf("del%d", started)}
				handles[c] = handles[c][1:]
			default:
				p.kind = KindChangeVisibility
				p.in = Input{ReceiptHandle: handles[c][0], VisibilitySeconds: int32(rng.Intn(2)), RequestID: fmt.Sprintf("cv%d", started)}
			}
			p.id = rec.Invoke(c, p.kind, name, p.in)
			cur[c] = p
		case p == nil:
		case !p.applied && rng.Intn(20) == 0:
			// Timeout before the command reached the log: it may still
			// apply later, or never.
			if rng.Intn(2) == 0 {
				apply(c, p)
			}
			rec.Complete(p.id, OutcomeUnknown, Output{})
			cur[c] = nil
		case !p.applied:
			apply(c, p)
		default:
			out := p.out
			if rng.Intn(30) == 0 {
				// Applied, but the response was lost.
				rec.Complete(p.id, OutcomeUnknown, Output{})
			} else {
				rec.Complete(p.id, p.outcome, out)
				for _, m := range out.Messages {
					handles[c] = append(handles[c], m.ReceiptHandle)
				}
			}
			cur[c] = nil
		}
	}
	// Drain: let every lease expire, then receive and delete until empty.
	for i := 0; i < 100; i++ {
		q.now += 3000
		p := &pending{kind: KindReceive, in: Input{MaxMessages: 10, VisibilitySeconds: 30}}
		p.id = rec.Invoke(0, p.kind, name, p.in)
		apply(0, p)
		rec.Complete(p.id, OutcomeOK, p.out)
		if len(p.out.Messages) == 0 {
			break
		}
		for _, m := range p.out.Messages {
			d := &pending{kind: KindDelete, in: Input{ReceiptHandle: m.ReceiptHandle}}
			d.id = rec.Invoke(0, d.kind, name, d.in)
			apply(0, d)
			rec.Complete(d.id, d.outcome, d.out)
		}
	}
	return rec.History(), q
}

func anyPending(cur []*pending) bool {
	for _, p := range cur {
		if p != nil {
			return true
		}
	}
	return false
}

func checkAll(h History, fifo bool, opts Options) map[string]Result {
	out := map[string]Result{"total": CheckTotal(h, opts)}
	if fifo {
		out["fifo"] = CheckFIFO(h, opts)
	} else {
		out["standard"] = CheckStandard(h, opts)
	}
	return out
}

const seeds = 50

func TestReferenceQueueCorrectPasses(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		for seed := int64(1); seed <= seeds; seed++ {
			h, q := genHistory(seed, fifo, "", 200)
			h = ResolveUnknown(h, func(id string) (bool, bool) { return q.applied[id], true })
			for name, r := range checkAll(h, fifo, Options{}) {
				if !r.Valid || r.Inconclusive {
					t.Fatalf("fifo=%v seed %d: %s flagged a correct queue:\n%s", fifo, seed, name, r.String())
				}
			}
		}
	}
}

func TestReferenceQueueBugsCaught(t *testing.T) {
	cases := []struct {
		bug     string
		fifo    bool
		checker string
	}{
		{"ignore visibility", false, "standard"},
		{"ignore visibility", true, "fifo"},
		{"skip fifo head", true, "fifo"},
		{"lose ack", false, "total"},
		{"delete noop", false, "standard"},
		{"ignore dedup", true, "fifo"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/fifo=%v", c.bug, c.fifo), func(t *testing.T) {
			for seed := int64(1); seed <= seeds; seed++ {
				h, q := genHistory(seed, c.fifo, c.bug, 200)
				h = ResolveUnknown(h, func(id string) (bool, bool) { return q.applied[id], true })
				r := checkAll(h, c.fifo, Options{})[c.checker]
				if !r.Valid {
					t.Logf("caught by %s at seed %d: %s", c.checker, seed, r.Anomalies[0])
					return
				}
			}
			t.Fatalf("%s never caught %q in %d seeds", c.checker, c.bug, seeds)
		})
	}
}

// Without ResolveUnknown the checkers must still accept a correct queue:
// unknown ops are modelled as possibly never returning.
func TestReferenceQueueUnresolved(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		for _, fifo := range []bool{false, true} {
			h, _ := genHistory(seed, fifo, "", 80)
			for name, r := range checkAll(h, fifo, Options{}) {
				if !r.Valid {
					t.Fatalf("fifo=%v seed %d: %s:\n%s", fifo, seed, name, r.String())
				}
			}
		}
	}
}

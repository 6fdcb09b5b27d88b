package linearizability

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// The queue model shared by the FIFO checker (one partition per message
// group, ordered) and the standard checker (one partition per message,
// unordered). Each porcupine operation touches one partition.

// leaseUnknown marks a lease whose expiry cannot be computed because the
// response carried no log time: any later delivery is then accepted.
const leaseUnknown = -1

type mMsg struct {
	body, id string
	count    int32 // receive count of the latest delivery
	lease    int64 // invisible until this log time (0: visible)
	gone     bool  // deleted or purged
}

type mDedup struct {
	key, id string
	at      int64
}

type mState struct {
	clock int64
	msgs  []mMsg
	dedup []mDedup
}

// mIn is a porcupine input: one op's effect on one partition.
type mIn struct {
	part    string
	kind    Kind
	body    string   // send; delete and change_visibility: the handle's message
	dedup   []string // send
	count   int32    // delete, change_visibility: the handle's receive count
	vis     int32    // receive, change_visibility
	at      int64    // log time, 0 if unknown
	unknown bool     // may or may not have taken effect
	desc    string
}

type mRecv struct {
	body, id string
	count    int32
}

type mOut struct {
	id   string  // send
	msgs []mRecv // receive
}

// kindMove is the model's own op: a dead-letter move takes the message
// out of its source (no client calls it; see addDeadLetterArrivals).
const kindMove Kind = "dead_letter_move"

// ordered: FIFO (one partition per group); withinWindow: see
// History.WithinDedupWindow.
type queueModel struct{ ordered, withinWindow bool }

func within(a, b int64) bool { return a == 0 || b == 0 || b-a < DedupWindowMs }

func (s mState) clone() mState {
	return mState{clock: s.clock, msgs: append([]mMsg(nil), s.msgs...), dedup: append([]mDedup(nil), s.dedup...)}
}

// step applies one op, or says why it cannot happen in this state.
func (m queueModel) step(s mState, in mIn, out mOut) (mState, error) {
	if in.at != 0 {
		// The state machine's clock never goes back, so neither may the
		// log times of the ops it applied, in linearization order.
		if in.at < s.clock {
			return s, fmt.Errorf("applied at %d, before an op applied at %d", in.at, s.clock)
		}
	}
	n := s.clone()
	if in.at > n.clock {
		n.clock = in.at
	}
	switch in.kind {
	case KindSend:
		return m.send(n, in, out)
	case KindReceive:
		return m.receive(n, in, out)
	case KindDelete, KindChangeVisibility:
		return m.handleOp(n, in)
	case KindPurge:
		for i := range n.msgs {
			n.msgs[i].gone = true
		}
		return n, nil
	case kindMove:
		for i := range n.msgs {
			if n.msgs[i].body == in.body {
				n.msgs[i].gone = true
			}
		}
		return n, nil
	}
	return s, fmt.Errorf("unknown kind %q", in.kind)
}

func (m queueModel) send(n mState, in mIn, out mOut) (mState, error) {
	for _, k := range in.dedup {
		for _, d := range n.dedup {
			if d.key != k || !within(d.at, in.at) {
				continue
			}
			if out.id == "" || d.id == "" || out.id == d.id {
				return n, nil // a duplicate: stored once
			}
			if d.at != 0 && in.at != 0 || m.withinWindow {
				return n, fmt.Errorf("dedup violation: %s sent %dms after the first send got new id %s, not %s", strings.TrimPrefix(strings.TrimPrefix(k, "d:"), "r:"), in.at-d.at, out.id, d.id)
			}
			// No log times: the window may have passed; not a clear violation.
		}
	}
	n.msgs = append(n.msgs, mMsg{body: in.body, id: out.id})
	for _, k := range in.dedup {
		kept := n.dedup[:0]
		for _, d := range n.dedup {
			if d.key != k {
				kept = append(kept, d)
			}
		}
		n.dedup = append(kept, mDedup{key: k, id: out.id, at: in.at})
	}
	return n, nil
}

func (m queueModel) receive(n mState, in mIn, out mOut) (mState, error) {
	var live []int
	for i, x := range n.msgs {
		if !x.gone {
			live = append(live, i)
		}
	}
	taken := map[int]bool{}
	for j, r := range out.msgs {
		idx := -1
		if m.ordered {
			if j < len(live) && n.msgs[live[j]].body == r.body {
				idx = live[j]
			}
		} else {
			for _, i := range live {
				if n.msgs[i].body == r.body && !taken[i] && (n.msgs[i].id == "" || r.id == "" || n.msgs[i].id == r.id) {
					idx = i
					break
				}
			}
		}
		if idx < 0 {
			return n, m.whyMissing(n, live, j, r)
		}
		x := &n.msgs[idx]
		if x.id != "" && r.id != "" && x.id != r.id {
			return n, fmt.Errorf("delivered %q as id %s, stored as %s", r.body, r.id, x.id)
		}
		if r.count <= x.count {
			return n, fmt.Errorf("delivered %q with receive count %d, already delivered with count %d: two leases at once", r.body, r.count, x.count)
		}
		taken[idx] = true
	}
	if in.at != 0 {
		// Lease exclusivity; in a FIFO group (ordered) one leased message
		// blocks the whole group: one batch in flight.
		for _, i := range live {
			x := n.msgs[i]
			if (m.ordered || taken[i]) && x.lease > in.at {
				return n, fmt.Errorf("received at %d while %q is leased until %d", in.at, x.body, x.lease)
			}
		}
	}
	for i := range taken {
		x := &n.msgs[i]
		for _, r := range out.msgs {
			if r.body == x.body && (x.id == "" || x.id == r.id || r.id == "") {
				if r.id != "" {
					x.id = r.id
				}
				x.count = r.count
				break
			}
		}
		x.lease = leaseUnknown
		if in.at != 0 {
			x.lease = in.at + int64(in.vis)*1000
		}
	}
	return n, nil
}

func (m queueModel) whyMissing(n mState, live []int, j int, r mRecv) error {
	for _, x := range n.msgs {
		if x.body == r.body && x.gone {
			return fmt.Errorf("delivered %q after it was deleted or purged", r.body)
		}
	}
	present := false
	for _, i := range live {
		if n.msgs[i].body == r.body {
			present = true
		}
	}
	if !present {
		return fmt.Errorf("delivered %q, not sent (yet)", r.body)
	}
	if m.ordered && j < len(live) {
		return fmt.Errorf("out of order: delivered %q while the group's next is %q", r.body, n.msgs[live[j]].body)
	}
	return fmt.Errorf("delivered %q twice in one receive", r.body)
}

// handleOp applies delete or change_visibility. A handle acts only while
// its receive count is the message's latest; an unknown op applies only if
// it would have been accepted, so it can always be placed where it is
// harmless.
func (m queueModel) handleOp(n mState, in mIn) (mState, error) {
	seen, gone := false, false
	for i := range n.msgs {
		x := &n.msgs[i]
		if x.body != in.body {
			continue
		}
		seen = true
		if x.gone {
			gone = true
			continue
		}
		if x.count != in.count {
			continue
		}
		if in.kind == KindDelete {
			x.gone = true
		} else {
			switch {
			case in.vis == 0:
				x.lease = 0
			case in.at != 0:
				x.lease = in.at + int64(in.vis)*1000
			default:
				x.lease = leaseUnknown
			}
		}
		return n, nil
	}
	switch {
	case in.unknown, gone:
		// Deleting a deleted message succeeds; changing one is not judged.
		return n, nil
	case !seen:
		return n, fmt.Errorf("%s of %q before it was sent", in.kind, in.body)
	}
	return n, fmt.Errorf("%s of %q accepted a stale handle (receive count %d)", in.kind, in.body, in.count)
}

func (m queueModel) porcupineStep(state, input, output any) (bool, any) {
	in := input.(mIn)
	var out mOut
	if output != nil {
		out = output.(mOut)
	}
	n, err := m.step(state.(mState), in, out)
	if err != nil {
		return false, state
	}
	return true, n
}

func stateEqual(a, b any) bool {
	x, y := a.(mState), b.(mState)
	if x.clock != y.clock || len(x.msgs) != len(y.msgs) || len(x.dedup) != len(y.dedup) {
		return false
	}
	for i := range x.msgs {
		if x.msgs[i] != y.msgs[i] {
			return false
		}
	}
	for i := range x.dedup {
		if x.dedup[i] != y.dedup[i] {
			return false
		}
	}
	return true
}

func stateHash(a any) uint64 {
	s := a.(mState)
	h := fnv.New64a()
	fmt.Fprint(h, s.clock)
	for _, x := range s.msgs {
		fmt.Fprint(h, x.body, x.count, x.lease, x.gone, x.id)
	}
	return h.Sum64()
}

func describeState(a any) string {
	s := a.(mState)
	var parts []string
	for _, x := range s.msgs {
		if x.gone {
			continue
		}
		p := x.body
		if x.count > 0 {
			p += fmt.Sprintf("(n=%d", x.count)
			if x.lease != 0 {
				p += fmt.Sprintf(" until %d", x.lease)
			}
			p += ")"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("t=%d [%s]", s.clock, strings.Join(parts, " "))
}

func describeOp(input, output any) string {
	in := input.(mIn)
	s := in.desc
	if out, ok := output.(mOut); ok && in.kind == KindReceive {
		var b []string
		for _, r := range out.msgs {
			b = append(b, fmt.Sprintf("%s#%d", r.body, r.count))
		}
		s += " -> [" + strings.Join(b, " ") + "]"
	}
	if in.unknown {
		s += " ?"
	}
	return s
}

package linearizability

import (
	"fmt"
	"sort"
)

// CheckTotal judges the queue as a whole; the history must end with a drain
// (see History). Every acknowledged send comes out and is deleted (by a
// client or by the drain, from its queue or its dead-letter queue), unless
// a purge that may have followed it says otherwise; nothing comes out that
// was never sent, or whose send definitely failed; unknown sends may come
// out (recovered). A message delivered again is counted (Redelivered) and
// is the lease checkers' business; one logical send stored as two messages
// (same body, or same deduplication/request id within the window) is a
// violation on every queue type.
func CheckTotal(h History, opts Options) Result {
	res := newResult("total")
	if tooLong(&res, h, opts) {
		return res
	}
	items := h.sends()
	open := h.openReturn()
	byID := map[string][]int{}
	byBody := map[string][]int{}
	for i, it := range items {
		q := h.Ops[it.op].Queue
		if it.id != "" && it.outcome == OutcomeOK {
			byID[q+"\x00"+it.id] = append(byID[q+"\x00"+it.id], i)
		}
		byBody[q+"\x00"+it.entry.Body] = append(byBody[q+"\x00"+it.entry.Body], i)
	}

	delivered := make([]bool, len(items))
	idsOfBody := map[string]map[string]bool{}
	times := map[string]int{}
	for _, op := range h.Ops {
		if op.Kind != KindReceive || op.Outcome != OutcomeOK {
			continue
		}
		for _, r := range op.Output.Messages {
			bk := op.Queue + "\x00" + r.Body
			if r.MessageID != "" {
				times[op.Queue+"\x00"+r.MessageID]++
				if idsOfBody[bk] == nil {
					idsOfBody[bk] = map[string]bool{}
				}
				idsOfBody[bk][r.MessageID] = true
			}
			// A dead-letter queue delivers what was sent to its sources,
			// under the same message id.
			from := append([]string{op.Queue}, h.sourcesOf(op.Queue)...)
			byIDFound := false
			for _, q := range from {
				if m, ok := byID[q+"\x00"+r.MessageID]; ok && r.MessageID != "" {
					for _, i := range m {
						delivered[i] = true
					}
					byIDFound = true
				}
			}
			if byIDFound {
				continue
			}
			matched, failed := false, false
			for _, q := range from {
				for _, i := range byBody[q+"\x00"+r.Body] {
					switch items[i].outcome {
					case OutcomeOK, OutcomeUnknown:
						delivered[i], matched = true, true
					case OutcomeFail:
						failed = true
					}
				}
			}
			switch {
			case matched:
			case failed:
				res.Counts.Unexpected++
				res.flag(opts, "unexpected: %s delivered %q (id %s), whose send failed", op.Queue, r.Body, r.MessageID)
			default:
				res.Counts.Unexpected++
				res.flag(opts, "unexpected: %s delivered %q (id %s), never sent", op.Queue, r.Body, r.MessageID)
			}
		}
	}
	for _, n := range times {
		if n > 1 {
			res.Counts.Redelivered++
		}
	}

	// A delivered message must also end deleted: delivered and never
	// deleted, it is still in the queue and the drain must deliver (and
	// delete) it again; if the drain does not, it was lost after delivery.
	// A delete whose outcome is unknown may have worked.
	deletedKeys := map[string]bool{}
	handles := h.handles()
	for _, op := range h.Ops {
		if op.Kind != KindDelete || op.Outcome == OutcomeFail {
			continue
		}
		if hi, ok := handles[op.Queue+"\x00"+op.Input.ReceiptHandle]; ok {
			deletedKeys[op.Queue+"\x00id:"+hi.id] = hi.id != ""
			deletedKeys[op.Queue+"\x00body:"+hi.body] = true
		}
	}
	deleted := make([]bool, len(items))
	for i, it := range items {
		q := h.Ops[it.op].Queue
		for _, in := range []string{q, h.Queues[q].DeadLetter} {
			if in != "" && (it.id != "" && deletedKeys[in+"\x00id:"+it.id] || deletedKeys[in+"\x00body:"+it.entry.Body]) {
				deleted[i] = true
			}
		}
	}
	// A send settled as applied carries no message id; if it shares a
	// deduplication key with a delivered send, it may have been stored as
	// that message.
	keyDelivered := map[string]bool{}
	keyDeleted := map[string]bool{}
	for i, it := range items {
		if delivered[i] {
			for _, k := range h.dedupKeys(h.Ops[it.op].Queue, it.entry) {
				keyDelivered[h.Ops[it.op].Queue+"\x00"+k] = true
				keyDeleted[h.Ops[it.op].Queue+"\x00"+k] = keyDeleted[h.Ops[it.op].Queue+"\x00"+k] || deleted[i]
			}
		}
	}
	for i, it := range items {
		if !delivered[i] && it.id == "" && it.outcome == OutcomeOK {
			for _, k := range h.dedupKeys(h.Ops[it.op].Queue, it.entry) {
				if kk := h.Ops[it.op].Queue + "\x00" + k; keyDelivered[kk] && k[0] == 'd' {
					delivered[i] = true
					deleted[i] = deleted[i] || keyDeleted[kk]
				}
			}
		}
	}

	settled := func(i int) bool { return delivered[i] && deleted[i] }

	// Lost, per queue in send order.
	// A purge of a queue or of its dead-letter queue may have removed
	// anything sent before it returned.
	purgedUpTo := map[string]int64{} // queue -> latest return of a purge that may have happened
	for _, op := range h.Ops {
		if op.Kind == KindPurge && op.Outcome != OutcomeFail {
			if r := op.returnStamp(open); r > purgedUpTo[op.Queue] {
				purgedUpTo[op.Queue] = r
			}
		}
	}
	// Sends deduplicated into one message share its fate: a purge after
	// the first removes the message all of them got.
	firstCall := func(i int) int64 {
		c := h.Ops[items[i].op].Call
		if items[i].id != "" {
			for _, j := range byID[h.Ops[items[i].op].Queue+"\x00"+items[i].id] {
				c = min(c, h.Ops[items[j].op].Call)
			}
		}
		return c
	}
	perQueue := map[string][]int{}
	var queues []string
	for i, it := range items {
		q := h.Ops[it.op].Queue
		switch it.outcome {
		case OutcomeUnknown:
			if delivered[i] {
				res.Counts.Recovered++
			}
			continue
		case OutcomeFail:
			continue
		}
		if settled(i) {
			res.Counts.OK++
		} else if c := firstCall(i); c < purgedUpTo[q] || c < purgedUpTo[h.Queues[q].DeadLetter] {
			res.Counts.Purged++
			continue
		} else if h.Queues[q].ExpireBeforeDrain && h.DrainCall > 0 {
			res.Counts.Expired++
			continue
		}
		if perQueue[q] == nil {
			queues = append(queues, q)
		}
		perQueue[q] = append(perQueue[q], i)
	}
	sort.Strings(queues)
	for _, q := range queues {
		idx := perQueue[q]
		sort.SliceStable(idx, func(a, b int) bool { return h.Ops[items[idx[a]].op].Call < h.Ops[items[idx[b]].op].Call })
		first, last := -1, -1
		for p, i := range idx {
			if settled(i) {
				if first < 0 {
					first = p
				}
				last = p
			}
		}
		for p, i := range idx {
			if settled(i) {
				continue
			}
			res.Counts.Lost++
			where := "middle"
			switch {
			case first < 0 || p < first:
				res.Counts.LostPrefix++
				where = "prefix"
			case p > last:
				res.Counts.LostSuffix++
				where = "suffix"
			default:
				res.Counts.LostMiddle++
			}
			what := "never delivered"
			if delivered[i] {
				what = "delivered, never deleted, and gone before the drain"
			}
			res.flag(opts, "lost (%s): %s acknowledged send #%d %q (id %s) %s", where, q, items[i].op, items[i].entry.Body, items[i].id, what)
		}
	}

	// One logical send stored twice.
	var bodies []string
	for bk, ids := range idsOfBody {
		if len(ids) > 1 {
			bodies = append(bodies, bk)
		}
	}
	sort.Strings(bodies)
	for _, bk := range bodies {
		res.Counts.Duplicated += len(idsOfBody[bk]) - 1
		res.flag(opts, "duplicated: %q delivered under %d message ids", bodyOf(bk), len(idsOfBody[bk]))
	}
	checkDedup(h, items, opts, &res)
	checkDeadLetters(h, opts, &res)
	checkExpired(h, opts, &res)
	return res
}

// checkExpired flags a drain delivering from a queue whose retention the
// driver waited out: whatever was left had expired.
func checkExpired(h History, opts Options, res *Result) {
	if h.DrainCall == 0 {
		return
	}
	for _, op := range h.Ops {
		if op.Kind != KindReceive || op.Outcome != OutcomeOK || op.Call < h.DrainCall || !h.Queues[op.Queue].ExpireBeforeDrain {
			continue
		}
		for _, r := range op.Output.Messages {
			res.Counts.Unexpected++
			res.flag(opts, "expired: %s delivered %q (id %s) in the drain, after its retention period", op.Queue, r.Body, r.MessageID)
		}
	}
}

// checkDeadLetters judges the moves to dead-letter queues: a source queue
// never delivers a message more than MaxReceiveCount times (the receive
// that finds it received that often moves it instead), and never delivers
// it again once the dead-letter queue has (the move is exactly once: a
// lost move shows as a lost send, a doubled one as a duplicate here).
func checkDeadLetters(h History, opts Options, res *Result) {
	var sources []string
	for name, q := range h.Queues {
		if q.DeadLetter != "" {
			sources = append(sources, name)
		}
	}
	sort.Strings(sources)
	for _, src := range sources {
		info := h.Queues[src]
		movedBy := map[string]int64{} // message id -> earliest return of a delivery from the DLQ
		for _, op := range h.Ops {
			if op.Kind != KindReceive || op.Outcome != OutcomeOK || op.Queue != info.DeadLetter {
				continue
			}
			for _, r := range op.Output.Messages {
				if t, ok := movedBy[r.MessageID]; r.MessageID != "" && (!ok || op.Return < t) {
					movedBy[r.MessageID] = op.Return
				}
			}
		}
		res.Counts.DeadLettered += len(movedBy)
		for _, op := range h.Ops {
			if op.Kind != KindReceive || op.Outcome != OutcomeOK || op.Queue != src {
				continue
			}
			for _, r := range op.Output.Messages {
				if info.MaxReceiveCount > 0 && r.ReceiveCount > info.MaxReceiveCount {
					res.Counts.Duplicated++
					res.flag(opts, "dead letter: %s delivered %q with receive count %d, above max_receive_count %d (it should have moved to %s)",
						src, r.Body, r.ReceiveCount, info.MaxReceiveCount, info.DeadLetter)
				}
				if t, ok := movedBy[r.MessageID]; ok && op.Call > t {
					res.Counts.Duplicated++
					res.flag(opts, "dead letter: %s delivered %q (id %s) by receive #%d, after %s had delivered it: in both queues",
						src, r.Body, r.MessageID, op.ID, info.DeadLetter)
				}
			}
		}
	}
}

func bodyOf(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[i+1:]
		}
	}
	return key
}

// checkDedup flags acknowledged sends that share a deduplication or
// request id, fall within the window by log time, and got different
// message ids. Without log times the window cannot be judged, so nothing is
// flagged.
func checkDedup(h History, items []sendItem, opts Options, res *Result) {
	type rec struct {
		id string
		at int64
	}
	first := map[string]rec{}
	for _, it := range items {
		if it.outcome != OutcomeOK || it.id == "" || it.at == 0 && !h.WithinDedupWindow {
			continue
		}
		q := h.Ops[it.op].Queue
		for _, k := range h.dedupKeys(q, it.entry) {
			fk := q + "\x00" + k
			f, ok := first[fk]
			if !ok || !h.WithinDedupWindow && it.at-f.at >= DedupWindowMs {
				first[fk] = rec{it.id, it.at}
				continue
			}
			if f.id != it.id && it.at >= f.at {
				res.Counts.Duplicated++
				later := "within the window"
				if it.at != 0 && f.at != 0 {
					later = fmt.Sprintf("%dms later", it.at-f.at)
				}
				res.flag(opts, "dedup violation: %s key %s sent again %s got id %s, first got %s", q, k, later, it.id, f.id)
			}
		}
	}
}

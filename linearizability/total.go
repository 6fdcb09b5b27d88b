package linearizability

import "sort"

// CheckTotal judges the queue as a whole; the history must end with a drain
// (see History). Every acknowledged send comes out at least once, unless a
// purge that may have followed it says otherwise; nothing comes out that
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
			if m, ok := byID[op.Queue+"\x00"+r.MessageID]; ok && r.MessageID != "" {
				for _, i := range m {
					delivered[i] = true
				}
				continue
			}
			matched, failed := false, false
			for _, i := range byBody[bk] {
				switch items[i].outcome {
				case OutcomeOK, OutcomeUnknown:
					delivered[i], matched = true, true
				case OutcomeFail:
					failed = true
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

	// A send settled as applied carries no message id; if it shares a
	// deduplication key with a delivered send, it may have been stored as
	// that message.
	keyDelivered := map[string]bool{}
	for i, it := range items {
		if delivered[i] {
			for _, k := range h.dedupKeys(h.Ops[it.op].Queue, it.entry) {
				keyDelivered[h.Ops[it.op].Queue+"\x00"+k] = true
			}
		}
	}
	for i, it := range items {
		if !delivered[i] && it.id == "" && it.outcome == OutcomeOK {
			for _, k := range h.dedupKeys(h.Ops[it.op].Queue, it.entry) {
				if keyDelivered[h.Ops[it.op].Queue+"\x00"+k] && k[0] == 'd' {
					delivered[i] = true
				}
			}
		}
	}

	// Lost, per queue in send order.
	purgedUpTo := map[string]int64{} // queue -> latest return of a purge that may have happened
	for _, op := range h.Ops {
		if op.Kind == KindPurge && op.Outcome != OutcomeFail {
			if r := op.returnStamp(open); r > purgedUpTo[op.Queue] {
				purgedUpTo[op.Queue] = r
			}
		}
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
		if delivered[i] {
			res.Counts.OK++
		} else if h.Ops[it.op].Call < purgedUpTo[q] {
			res.Counts.Purged++
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
			if delivered[i] {
				if first < 0 {
					first = p
				}
				last = p
			}
		}
		for p, i := range idx {
			if delivered[i] {
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
			res.flag(opts, "lost (%s): %s acknowledged send #%d %q (id %s) never delivered", where, q, items[i].op, items[i].entry.Body, items[i].id)
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
	return res
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
		if it.outcome != OutcomeOK || it.id == "" || it.at == 0 {
			continue
		}
		q := h.Ops[it.op].Queue
		for _, k := range h.dedupKeys(q, it.entry) {
			fk := q + "\x00" + k
			f, ok := first[fk]
			if !ok || it.at-f.at >= DedupWindowMs {
				first[fk] = rec{it.id, it.at}
				continue
			}
			if f.id != it.id && it.at >= f.at {
				res.Counts.Duplicated++
				res.flag(opts, "dedup violation: %s key %s sent again %dms later got id %s, first got %s", q, k, it.at-f.at, it.id, f.id)
			}
		}
	}
}

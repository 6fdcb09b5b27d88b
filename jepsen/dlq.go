package jepsen

import (
	"fmt"
	"sort"

	lin "github.com/wharfmq/wharf/linearizability"
)

// delivery is one message a receive from the source delivered.
type delivery struct {
	op     int
	count  int32
	handle string
	id     string
}

// CheckDLQ judges a source queue with a redrive policy and its dead-letter
// queue, from a history that ends with a drain of both (the source first).
// The linearizability checkers assume no dead-letter queue; this one knows
// that a message leaves the source either by a delete or by a move:
//
//   - every acknowledged send to the source is deleted from it (an
//     acknowledged or unknown delete of one of its handles) or comes out of
//     the dead-letter queue: otherwise it is lost;
//   - a message comes out of the dead-letter queue under one message id:
//     two ids mean it was moved twice;
//   - the source never delivers a message more than maxReceives times
//     (the next receive moves it instead);
//   - nothing is delivered from the source after an acknowledged delete
//     of it returned;
//   - nothing comes out of the dead-letter queue that was never sent to
//     the source, or whose send failed.
//
// Counts: OK are acknowledged sends accounted for, Lost those that are
// not, Unexpected, Duplicated (extra ids in the dead-letter queue),
// Redelivered (over-delivered from the source), Recovered (unknown sends
// that came out), Purged is unused.
func CheckDLQ(h lin.History, src, dead string, maxReceives int32) lin.Result {
	res := lin.Result{Checker: "dlq", Valid: true}
	flag := func(format string, args ...any) {
		res.Valid = false
		res.AnomalyCount++
		if len(res.Anomalies) < 50 {
			res.Anomalies = append(res.Anomalies, fmt.Sprintf(format, args...))
		}
	}
	sends := map[string]lin.Outcome{} // body -> best outcome of its sends
	var order []string
	better := func(a, b lin.Outcome) bool { // a better than b
		rank := map[lin.Outcome]int{lin.OutcomeFail: 0, lin.OutcomeUnknown: 1, lin.OutcomeOK: 2}
		return rank[a] > rank[b]
	}
	fromSrc := map[string][]delivery{}
	handleBody := map[string]string{}
	handleCount := map[string]int32{}
	deadIDs := map[string]map[string]bool{}
	for _, op := range h.Ops {
		switch {
		case op.Kind == lin.KindSend && op.Queue == src:
			b := op.Input.Body
			if o, ok := sends[b]; !ok || better(op.Outcome, o) {
				if !ok {
					order = append(order, b)
				}
				sends[b] = op.Outcome
			}
		case op.Kind == lin.KindReceive && op.Outcome == lin.OutcomeOK && op.Queue == src:
			for _, m := range op.Output.Messages {
				fromSrc[m.Body] = append(fromSrc[m.Body], delivery{op: op.ID, count: m.ReceiveCount, handle: m.ReceiptHandle, id: m.MessageID})
				handleBody[m.ReceiptHandle], handleCount[m.ReceiptHandle] = m.Body, m.ReceiveCount
			}
		case op.Kind == lin.KindReceive && op.Outcome == lin.OutcomeOK && op.Queue == dead:
			for _, m := range op.Output.Messages {
				if deadIDs[m.Body] == nil {
					deadIDs[m.Body] = map[string]bool{}
				}
				deadIDs[m.Body][m.MessageID] = true
			}
		}
	}
	deleted := map[string]bool{}      // body -> an acknowledged delete
	maybeDeleted := map[string]bool{} // body -> a delete of unknown outcome
	for _, op := range h.Ops {
		if op.Kind != lin.KindDelete || op.Queue != src {
			continue
		}
		b, ok := handleBody[op.Input.ReceiptHandle]
		if !ok {
			continue
		}
		switch op.Outcome {
		case lin.OutcomeOK:
			deleted[b] = true
			// Delivered again from the source after this delete of its
			// latest handle returned?
			// (A delete succeeds only with the current handle, or when
			// the message is gone already: either way it never comes back.)
			for _, d := range fromSrc[b] {
				if h.Ops[d.op].Call > op.Return {
					res.Counts.Redelivered++
					flag("redelivered after delete: %s delivered %q (receive count %d, op #%d) after delete #%d (handle of count %d) returned",
						src, b, d.count, d.op, op.ID, handleCount[op.Input.ReceiptHandle])
					break
				}
			}
		case lin.OutcomeUnknown:
			maybeDeleted[b] = true
		}
	}
	for b, ds := range fromSrc {
		for _, d := range ds {
			if d.count > maxReceives {
				res.Counts.Redelivered++
				flag("over-delivered: %s delivered %q with receive count %d (op #%d), past max_receive_count %d: the dead-letter move left it in the source",
					src, b, d.count, d.op, maxReceives)
				break
			}
		}
	}
	var deadBodies []string
	for b := range deadIDs {
		deadBodies = append(deadBodies, b)
	}
	sort.Strings(deadBodies)
	for _, b := range deadBodies {
		o, sentToSrc := sends[b]
		switch {
		case !sentToSrc:
			res.Counts.Unexpected++
			flag("unexpected: %s delivered %q, never sent to %s", dead, b, src)
		case o == lin.OutcomeFail:
			res.Counts.Unexpected++
			flag("unexpected: %s delivered %q, whose send failed", dead, b)
		}
		if n := len(deadIDs[b]); n > 1 {
			res.Counts.Duplicated += n - 1
			flag("moved twice: %s delivered %q under %d message ids", dead, b, n)
		}
	}
	for _, b := range order {
		out := len(deadIDs[b]) > 0 || len(fromSrc[b]) > 0
		switch sends[b] {
		case lin.OutcomeUnknown:
			if out {
				res.Counts.Recovered++
			}
		case lin.OutcomeOK:
			if deleted[b] || maybeDeleted[b] || len(deadIDs[b]) > 0 {
				res.Counts.OK++
				continue
			}
			res.Counts.Lost++
			flag("lost: acknowledged send of %q to %s was neither deleted from it nor found in %s (delivered %d times from the source)",
				b, src, dead, len(fromSrc[b]))
		}
	}
	return res
}

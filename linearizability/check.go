package linearizability

import (
	"fmt"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// buildQueueOps turns the ops on queues of one type (FIFO or standard) into
// porcupine operations, split into partitions: a FIFO queue's message
// groups, or a standard queue's messages. Failed ops are left out (they
// did not happen); unknown receives are left out too (their output is
// lost; the model tolerates what they may have done: receive counts that
// jump, messages that stay invisible).
func buildQueueOps(h History, fifo bool) (keys []string, parts map[string][]porcupine.Operation) {
	parts = map[string][]porcupine.Operation{}
	open := h.openReturn()
	groupOf := map[string]string{} // queue+body -> group
	for _, s := range h.sends() {
		groupOf[h.Ops[s.op].Queue+"\x00"+s.entry.Body] = s.entry.GroupID
	}
	handles := h.handles()
	partKey := func(queue, body, group string) string {
		if fifo {
			if group == "" {
				group = groupOf[queue+"\x00"+body]
			}
			return queue + "/" + group
		}
		return queue + "/" + body
	}
	add := func(op Op, in mIn, out mOut) {
		in.unknown = op.Outcome == OutcomeUnknown
		parts[in.part] = append(parts[in.part], porcupine.Operation{
			ClientId: op.Client, Input: in, Output: out, Call: op.Call, Return: op.returnStamp(open),
		})
	}
	sendsByOp := map[int][]sendItem{}
	for _, s := range h.sends() {
		sendsByOp[s.op] = append(sendsByOp[s.op], s)
	}
	var purges []Op
	for i, op := range h.Ops {
		if h.isFIFO(op.Queue) != fifo || op.Outcome == OutcomeFail {
			continue
		}
		at := op.Output.AppliedAtMs
		switch op.Kind {
		case KindSend, KindSendBatch:
			for _, s := range sendsByOp[i] {
				if s.outcome == OutcomeFail {
					continue
				}
				in := mIn{part: partKey(op.Queue, s.entry.Body, s.entry.GroupID), kind: KindSend, body: s.entry.Body,
					dedup: h.dedupKeys(op.Queue, s.entry), at: at, desc: fmt.Sprintf("#%d send %s", op.ID, s.entry.Body)}
				o := op
				o.Outcome = s.outcome
				add(o, in, mOut{id: s.id})
			}
		case KindReceive:
			if op.Outcome != OutcomeOK {
				continue
			}
			byPart := map[string]*mIn{}
			outs := map[string]*mOut{}
			var order []string
			for _, r := range op.Output.Messages {
				k := partKey(op.Queue, r.Body, r.GroupID)
				if byPart[k] == nil {
					t := at
					if r.AppliedAtMs != 0 {
						t = r.AppliedAtMs
					}
					byPart[k] = &mIn{part: k, kind: KindReceive, vis: op.Input.VisibilitySeconds, at: t, desc: fmt.Sprintf("#%d receive", op.ID)}
					outs[k] = &mOut{}
					order = append(order, k)
				}
				outs[k].msgs = append(outs[k].msgs, mRecv{body: r.Body, id: r.MessageID, count: r.ReceiveCount})
			}
			for _, k := range order {
				add(op, *byPart[k], *outs[k])
			}
		case KindDelete, KindChangeVisibility:
			hi, ok := handles[op.Queue+"\x00"+op.Input.ReceiptHandle]
			if !ok {
				// A handle no acknowledged receive handed out: nothing to
				// tie it to.
				continue
			}
			in := mIn{part: partKey(op.Queue, hi.body, hi.group), kind: op.Kind, body: hi.body, count: hi.count,
				vis: op.Input.VisibilitySeconds, at: at, desc: fmt.Sprintf("#%d %s %s#%d", op.ID, op.Kind, hi.body, hi.count)}
			add(op, in, mOut{})
		case KindPurge:
			purges = append(purges, op)
		}
	}
	if !fifo {
		addDeadLetterArrivals(h, open, parts)
	}
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// A purge touches every partition of its queue.
	for _, op := range purges {
		for _, k := range keys {
			if len(k) > len(op.Queue) && k[:len(op.Queue)+1] == op.Queue+"/" {
				add(op, mIn{part: k, kind: KindPurge, at: op.Output.AppliedAtMs, desc: fmt.Sprintf("#%d purge", op.ID)}, mOut{})
			}
		}
	}
	return keys, parts
}

// addDeadLetterArrivals gives each message a dead-letter queue delivered a
// send of its own in that queue's partition: the move happened after the
// message was first delivered from its source (or sent, if no delivery was
// seen) and before the dead-letter queue first delivered it.
func addDeadLetterArrivals(h History, open int64, parts map[string][]porcupine.Operation) {
	sent := map[string]int64{} // source queue + body -> call of its send
	for _, s := range h.sends() {
		k := h.Ops[s.op].Queue + "\x00" + s.entry.Body
		if c, ok := sent[k]; !ok || h.Ops[s.op].Call < c {
			sent[k] = h.Ops[s.op].Call
		}
	}
	firstFromSource := map[string]int64{} // source queue + body -> earliest call of a receive delivering it
	lastFromSource := map[string]int64{}  // source queue + body -> latest call of a receive delivering it
	type arrival struct {
		queue, body, id string
		ret             int64
	}
	arrivals := map[string]*arrival{} // dlq + body
	var order []string
	for _, op := range h.Ops {
		if op.Kind != KindReceive || op.Outcome != OutcomeOK {
			continue
		}
		for _, r := range op.Output.Messages {
			k := op.Queue + "\x00" + r.Body
			if h.Queues[op.Queue].DeadLetter != "" {
				if c, ok := firstFromSource[k]; !ok || op.Call < c {
					firstFromSource[k] = op.Call
				}
				lastFromSource[k] = max(lastFromSource[k], op.Call)
			}
			if len(h.sourcesOf(op.Queue)) == 0 || h.isFIFO(op.Queue) {
				continue
			}
			if a := arrivals[k]; a == nil {
				arrivals[k] = &arrival{queue: op.Queue, body: r.Body, id: r.MessageID, ret: op.Return}
				order = append(order, k)
			} else if op.Return < a.ret {
				a.ret = op.Return
			}
		}
	}
	for _, k := range order {
		a := arrivals[k]
		var call int64
		var from string
		for _, src := range h.sourcesOf(a.queue) {
			sk := src + "\x00" + a.body
			c, ok := firstFromSource[sk]
			if !ok {
				c, ok = sent[sk]
			}
			if ok && (call == 0 || c < call) {
				call, from = c, src
			}
		}
		if from != "" {
			// The move also ends the message in its source: a delete with
			// an old handle then succeeds, as for any deleted message. It
			// came after the last delivery from the source seen, before
			// the dead-letter queue's first.
			if last := lastFromSource[from+"\x00"+a.body]; last < a.ret {
				part := from + "/" + a.body
				parts[part] = append(parts[part], porcupine.Operation{
					ClientId: -1, Call: last, Return: min(a.ret, open),
					Input: mIn{part: part, kind: kindMove, body: a.body, desc: "move " + a.body + " to " + a.queue},
				})
			}
		}
		if call >= a.ret {
			call = 0 // a source delivery after the move: CheckTotal flags it
		}
		part := a.queue + "/" + a.body
		parts[part] = append(parts[part], porcupine.Operation{
			ClientId: -1, Call: call, Return: min(a.ret, open),
			Input:  mIn{part: part, kind: KindSend, body: a.body, desc: "moved " + a.body + " from " + strings.Join(h.sourcesOf(a.queue), ",")},
			Output: mOut{id: a.id},
		})
	}
}

// runQueueModel checks the partitions with porcupine, names the ones that
// fail with the first op that cannot be placed and why, and writes the
// visualization.
func runQueueModel(name string, m queueModel, keys []string, parts map[string][]porcupine.Operation, opts Options, res *Result) {
	var flat []porcupine.Operation
	var split [][]porcupine.Operation
	for _, k := range keys {
		flat = append(flat, parts[k]...)
		split = append(split, parts[k])
	}
	model := porcupine.Model{
		Partition:         func([]porcupine.Operation) [][]porcupine.Operation { return split },
		Init:              func() any { return mState{} },
		Step:              m.porcupineStep,
		Equal:             stateEqual,
		Hash:              stateHash,
		DescribeOperation: describeOp,
		DescribeState:     describeState,
	}
	if len(flat) == 0 {
		return
	}
	verdict, info := porcupine.CheckOperationsVerbose(model, flat, opts.timeout())
	switch verdict {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		res.Inconclusive = true
		res.Anomalies = append(res.Anomalies, fmt.Sprintf("porcupine timed out after %s", opts.timeout()))
		return
	}
	partials := info.PartialLinearizationsOperations()
	for p, k := range keys {
		if p < len(partials) {
			explain(m, k, split[p], partials[p], opts, res)
		}
	}
	if res.Valid {
		res.flag(opts, "%s: porcupine found no linearization", name)
	}
	if opts.VisualizeDir != "" {
		path, err := writeVisualization(opts.VisualizeDir, name, model, info)
		if err != nil {
			res.Anomalies = append(res.Anomalies, "visualization: "+err.Error())
		}
		res.Visualization = path
	}
}

// explain replays the longest partial linearization of a failing partition
// and reports why the earliest remaining ops cannot follow it.
func explain(m queueModel, key string, ops []porcupine.Operation, partials [][]porcupine.Operation, opts Options, res *Result) {
	var best []porcupine.Operation
	for _, pl := range partials {
		if len(pl) == len(ops) {
			return // linearizable
		}
		if len(pl) > len(best) {
			best = pl
		}
	}
	s := mState{}
	for _, o := range best {
		n, err := m.step(s, o.Input.(mIn), o.Output.(mOut))
		if err == nil {
			s = n
		}
	}
	// mIn holds a slice, so it is not comparable: match by description.
	used := map[string]int{}
	for _, o := range best {
		used[describeOp(o.Input, o.Output)]++
	}
	var rest []porcupine.Operation
	for _, o := range ops {
		d := describeOp(o.Input, o.Output)
		if used[d] > 0 {
			used[d]--
			continue
		}
		rest = append(rest, o)
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Call < rest[j].Call })
	reason := "no order of these ops is legal"
	for i, o := range rest {
		if i == 3 {
			break
		}
		if _, err := m.step(s, o.Input.(mIn), o.Output.(mOut)); err != nil {
			reason = fmt.Sprintf("%s: %v", describeOp(o.Input, o.Output), err)
			break
		}
	}
	res.flag(opts, "%s: %s (after %d of %d ops; state %s)", key, reason, len(best), len(ops), describeState(s))
}

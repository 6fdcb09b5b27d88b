package linearizability

// ResolveUnknown settles unknown operations whose fate the driver knows
// (the simulator records every applied command by request id), before
// checking: each unknown op blows up porcupine's search, a settled one
// costs nothing. applied reports (applied, known) for a request id.
//
//   - a send, or a batch entry, known applied becomes ok, with the message
//     id an acknowledged retry with the same request id got (else none: the
//     checkers match it by body), known not applied becomes fail; a batch
//     whose entries differ is split into single sends;
//   - any op known not applied becomes fail;
//   - a receive, delete or change_visibility known applied stays unknown:
//     applied is not accepted (the state machine may have refused it), and
//     a receive's output is lost anyway.
//
// Settled ops are marked Resolved: the command may have been applied after
// the client gave up, so checkers keep their interval open.
func ResolveUnknown(h History, applied func(requestID string) (applied bool, known bool)) History {
	out := History{Queues: h.Queues, WithinDedupWindow: h.WithinDedupWindow, DrainCall: h.DrainCall}
	for _, op := range h.Ops {
		if op.Outcome != OutcomeUnknown {
			out.Ops = append(out.Ops, op)
			continue
		}
		switch op.Kind {
		case KindSend:
			if a, known := lookup(applied, op.Input.RequestID); known {
				op.Resolved = true
				op.Outcome = outcomeOf(a)
			}
			out.Ops = append(out.Ops, op)
		case KindSendBatch:
			out.Ops = append(out.Ops, resolveBatch(op, applied)...)
		default:
			if a, known := lookup(applied, op.Input.RequestID); known && !a {
				op.Resolved = true
				op.Outcome = OutcomeFail
			}
			out.Ops = append(out.Ops, op)
		}
	}
	// Splitting batches shifted positions: keep ID equal to the index.
	for i := range out.Ops {
		out.Ops[i].ID = i
	}
	return fillResolvedIDs(out)
}

func lookup(applied func(string) (bool, bool), id string) (bool, bool) {
	if id == "" {
		return false, false
	}
	return applied(id)
}

func outcomeOf(applied bool) Outcome {
	if applied {
		return OutcomeOK
	}
	return OutcomeFail
}

func resolveBatch(op Op, applied func(string) (bool, bool)) []Op {
	outcomes := make([]Outcome, len(op.Input.Entries))
	same := true
	for i, e := range op.Input.Entries {
		outcomes[i] = OutcomeUnknown
		if a, known := lookup(applied, e.RequestID); known {
			outcomes[i] = outcomeOf(a)
		}
		if outcomes[i] != outcomes[0] {
			same = false
		}
	}
	if same {
		if len(outcomes) > 0 && outcomes[0] != OutcomeUnknown {
			op.Outcome, op.Resolved = outcomes[0], true
		}
		return []Op{op}
	}
	// Entries of a batch are independent messages: one op each keeps the
	// same interval and lets each carry its own outcome.
	var ops []Op
	for i, e := range op.Input.Entries {
		s := op
		s.Kind = KindSend
		s.Input = Input{Body: e.Body, GroupID: e.GroupID, DedupID: e.DedupID, RequestID: e.RequestID}
		s.Output = Output{}
		s.Outcome = outcomes[i]
		s.Resolved = outcomes[i] != OutcomeUnknown
		ops = append(ops, s)
	}
	return ops
}

// fillResolvedIDs gives a send settled as applied the message id that an
// acknowledged retry with the same request id got: the request id makes
// them one message (were it stored twice, CheckTotal would see one body
// under two ids in the drain). Without it CheckTotal could match a settled
// send only by body, and would report the settled attempt of a standard
// queue as lost although its retry's message was delivered.
func fillResolvedIDs(h History) History {
	ids := map[string]string{} // queue, request id -> message id
	for _, op := range h.Ops {
		if op.Outcome != OutcomeOK || op.Resolved {
			continue
		}
		switch op.Kind {
		case KindSend:
			if len(op.Output.MessageIDs) == 1 && op.Input.RequestID != "" {
				ids[op.Queue+"\x00"+op.Input.RequestID] = op.Output.MessageIDs[0]
			}
		case KindSendBatch:
			for i, e := range op.Input.Entries {
				ok := i < len(op.Output.EntryOutcomes) && op.Output.EntryOutcomes[i] == OutcomeOK
				if ok && i < len(op.Output.MessageIDs) && op.Output.MessageIDs[i] != "" && e.RequestID != "" {
					ids[op.Queue+"\x00"+e.RequestID] = op.Output.MessageIDs[i]
				}
			}
		}
	}
	for i := range h.Ops {
		op := &h.Ops[i]
		if !op.Resolved || op.Outcome != OutcomeOK || len(op.Output.MessageIDs) > 0 {
			continue
		}
		switch op.Kind {
		case KindSend:
			if id := ids[op.Queue+"\x00"+op.Input.RequestID]; id != "" {
				op.Output.MessageIDs = []string{id}
			}
		case KindSendBatch:
			out := make([]string, len(op.Input.Entries))
			for j, e := range op.Input.Entries {
				out[j] = ids[op.Queue+"\x00"+e.RequestID]
			}
			op.Output.MessageIDs = out
		}
	}
	return h
}

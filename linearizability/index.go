package linearizability

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
)

// sendItem is one message a send or send_batch asked for.
type sendItem struct {
	op      int
	entry   SendEntry
	outcome Outcome
	id      string // message id from the response, "" if unknown
	at      int64
}

// sends flattens every send and send_batch into entries, each with its own
// outcome, so batches and single sends are judged alike.
func (h History) sends() []sendItem {
	var out []sendItem
	for i, op := range h.Ops {
		var entries []SendEntry
		switch op.Kind {
		case KindSend:
			entries = []SendEntry{{Body: op.Input.Body, GroupID: op.Input.GroupID, DedupID: op.Input.DedupID, RequestID: op.Input.RequestID}}
		case KindSendBatch:
			entries = op.Input.Entries
		default:
			continue
		}
		for j, e := range entries {
			it := sendItem{op: i, entry: e, outcome: op.Outcome, at: op.Output.AppliedAtMs}
			if j < len(op.Output.EntryOutcomes) && op.Outcome == OutcomeOK {
				it.outcome = op.Output.EntryOutcomes[j]
			}
			if j < len(op.Output.MessageIDs) {
				it.id = op.Output.MessageIDs[j]
			}
			out = append(out, it)
		}
	}
	return out
}

// handleInfo says which delivery produced a receipt handle.
type handleInfo struct {
	body, group, id string
	count           int32
}

// handles maps every receipt handle handed out by an acknowledged receive.
func (h History) handles() map[string]handleInfo {
	m := map[string]handleInfo{}
	for _, op := range h.Ops {
		if op.Kind != KindReceive || op.Outcome != OutcomeOK {
			continue
		}
		for _, r := range op.Output.Messages {
			m[op.Queue+"\x00"+r.ReceiptHandle] = handleInfo{body: r.Body, group: r.GroupID, id: r.MessageID, count: r.ReceiveCount}
		}
	}
	return m
}

// dedupKeys are the keys Wharf deduplicates a send by: the request id
// (retries, every queue) and, on FIFO queues, the deduplication id or the
// body's hash under content-based deduplication.
func (h History) dedupKeys(queue string, e SendEntry) []string {
	var keys []string
	if e.RequestID != "" {
		keys = append(keys, "r:"+e.RequestID)
	}
	if h.isFIFO(queue) {
		switch {
		case e.DedupID != "":
			keys = append(keys, "d:"+e.DedupID)
		case h.Queues[queue].ContentBasedDedup:
			sum := sha256.Sum256([]byte(e.Body))
			keys = append(keys, "d:"+hex.EncodeToString(sum[:]))
		}
	}
	return keys
}

// openReturn is the Return stamp of ops whose effect may land at any later
// time: porcupine's way to say "possibly never returned".
func (h History) openReturn() int64 {
	var m int64
	for _, op := range h.Ops {
		if op.Return > m {
			m = op.Return
		}
		if op.Call > m {
			m = op.Call
		}
	}
	if m >= math.MaxInt64-1 {
		return m
	}
	return m + 1
}

func (op Op) returnStamp(open int64) int64 {
	if op.Outcome == OutcomeUnknown || op.Resolved {
		return open
	}
	return op.Return
}

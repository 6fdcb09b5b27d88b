// Package linearizability is the executable specification of a Wharf queue:
// a history format recorded by the drivers (the simulator in sim/ and the
// Jepsen suite in jepsen/) and the checkers that judge a history against
// what the README promises. It depends on nothing in Wharf itself, so a
// bug in the node cannot leak into the judge.
package linearizability

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
)

// Kind names an API operation.
type Kind string

const (
	KindSend             Kind = "send"
	KindSendBatch        Kind = "send_batch"
	KindReceive          Kind = "receive"
	KindDelete           Kind = "delete"
	KindChangeVisibility Kind = "change_visibility"
	KindPurge            Kind = "purge"
)

// Outcome is what the client learned about an operation.
type Outcome string

const (
	// OutcomeOK: the server acknowledged it.
	OutcomeOK Outcome = "ok"
	// OutcomeFail: it definitely did not happen (rejected before or by the
	// state machine with no effect).
	OutcomeFail Outcome = "fail"
	// OutcomeUnknown: timeout or unavailable after the request left: it may
	// or may not have happened, possibly after the client gave up.
	OutcomeUnknown Outcome = "unknown"
)

// History is what a driver records. Call and Return stamps come from one
// logical counter (never wall time): many events share one instant in a
// simulation, and equal stamps would make sequential operations look
// concurrent and weaken every check.
//
// Driver contract, relied on by the checkers:
//   - every logical message has a unique body; a retry of a send reuses the
//     body and the request id;
//   - a receive retried with the same attempt id is recorded as one op;
//   - the history ends with a drain (receive and delete until empty, after
//     every lease has expired) when CheckTotal is used;
//   - a queue with a dead-letter queue is a standard queue whose
//     QueueInfo names it (DeadLetter, MaxReceiveCount), and the dead-letter
//     queue is drained after it; delays are allowed (a delayed message is
//     one that is not delivered yet, which no model forbids).
type History struct {
	Queues map[string]QueueInfo `json:"queues,omitempty"`
	Ops    []Op                 `json:"ops"`
	// WithinDedupWindow says the driver knows every op was applied within
	// DedupWindowMs of log time of the first: no deduplication record can
	// have expired, so two sends with one key that got different message
	// ids are a violation even when the responses carry no log times.
	WithinDedupWindow bool `json:"within_dedup_window,omitempty"`
	// DrainCall is the logical stamp at which the final drain began (0:
	// not recorded); see QueueInfo.ExpireBeforeDrain.
	DrainCall int64 `json:"drain_call,omitempty"`
}

// QueueInfo says how a queue was created. A queue missing here is FIFO if
// its name ends in ".fifo".
type QueueInfo struct {
	FIFO              bool `json:"fifo,omitempty"`
	ContentBasedDedup bool `json:"content_based_dedup,omitempty"`
	// DeadLetter names the queue a message moves to once it has been
	// delivered MaxReceiveCount times (standard queues only).
	DeadLetter      string `json:"dead_letter,omitempty"`
	MaxReceiveCount int32  `json:"max_receive_count,omitempty"`
	// ExpireBeforeDrain: the driver waited out the queue's retention
	// period before the drain (History.DrainCall), so every message not
	// deleted by then has expired: the drain must find none of them.
	ExpireBeforeDrain bool `json:"expire_before_drain,omitempty"`
}

// Op is one operation: its invocation, and its completion if any.
type Op struct {
	ID      int     `json:"id"`
	Client  int     `json:"client"`
	Kind    Kind    `json:"kind"`
	Queue   string  `json:"queue"`
	Input   Input   `json:"input"`
	Outcome Outcome `json:"outcome"`
	Output  Output  `json:"output"`
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
	// Resolved marks an op whose outcome was unknown and was settled by
	// ResolveUnknown: its effect may have landed after Return, so checkers
	// keep its interval open.
	Resolved bool `json:"resolved,omitempty"`
}

// Input is the request. Send uses Body..RequestID; send_batch uses
// Entries; receive uses VisibilitySeconds (the timeout in effect: the
// request's, or the queue's default, as the driver knows it) and
// MaxMessages; delete and change_visibility use ReceiptHandle (and
// VisibilitySeconds).
type Input struct {
	Body              string      `json:"body,omitempty"`
	GroupID           string      `json:"group_id,omitempty"`
	DedupID           string      `json:"dedup_id,omitempty"`
	RequestID         string      `json:"request_id,omitempty"`
	Entries           []SendEntry `json:"entries,omitempty"`
	VisibilitySeconds int32       `json:"visibility_seconds,omitempty"`
	MaxMessages       int32       `json:"max_messages,omitempty"`
	ReceiptHandle     string      `json:"receipt_handle,omitempty"`
}

// SendEntry is one message of a send_batch.
type SendEntry struct {
	Body      string `json:"body"`
	GroupID   string `json:"group_id,omitempty"`
	DedupID   string `json:"dedup_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Output is the response. For sends MessageIDs and SequenceNumbers are
// aligned with the entries (one for send). EntryOutcomes, when set, gives
// each batch entry its own outcome (partial failures); otherwise every
// entry shares the op's outcome. AppliedAtMs is the state machine's clock
// when it applied the command, 0 when the response does not carry it.
type Output struct {
	MessageIDs      []string   `json:"message_ids,omitempty"`
	SequenceNumbers []string   `json:"sequence_numbers,omitempty"`
	EntryOutcomes   []Outcome  `json:"entry_outcomes,omitempty"`
	Messages        []Received `json:"messages,omitempty"`
	AppliedAtMs     int64      `json:"applied_at_ms,omitempty"`
	Error           string     `json:"error,omitempty"`
}

// Received is one delivered message. AppliedAtMs overrides the op's when a
// receive spans partitions applied at different times.
type Received struct {
	MessageID      string `json:"message_id"`
	Body           string `json:"body"`
	GroupID        string `json:"group_id,omitempty"`
	SequenceNumber string `json:"sequence_number,omitempty"`
	ReceiveCount   int32  `json:"receive_count"`
	ReceiptHandle  string `json:"receipt_handle"`
	AppliedAtMs    int64  `json:"applied_at_ms,omitempty"`
}

// sourcesOf lists the queues whose dead-letter queue is dlq.
func (h History) sourcesOf(dlq string) []string {
	var out []string
	for name, q := range h.Queues {
		if q.DeadLetter == dlq && dlq != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (h History) isFIFO(queue string) bool {
	if q, ok := h.Queues[queue]; ok {
		return q.FIFO
	}
	return len(queue) > 5 && queue[len(queue)-5:] == ".fifo"
}

// Save writes the history as JSON (the results directory keeps it).
func (h History) Save(path string) error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Load reads a history written by Save.
func Load(path string) (History, error) {
	var h History
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	err = json.Unmarshal(b, &h)
	return h, err
}

// Recorder builds a History from concurrent clients. It is the only place
// that stamps Call and Return, so the logical clock is shared by all.
type Recorder struct {
	mu    sync.Mutex
	clock int64
	h     History
	done  []bool
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: History{Queues: map[string]QueueInfo{}}}
}

// SetQueue records how a queue was created.
func (r *Recorder) SetQueue(name string, info QueueInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Queues[name] = info
}

// MarkDrain records that the final drain begins: every op invoked from
// now on is part of it.
func (r *Recorder) MarkDrain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.DrainCall = r.clock + 1
}

// Invoke records a call and returns the op's id for Complete.
func (r *Recorder) Invoke(client int, kind Kind, queue string, in Input) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock++
	id := len(r.h.Ops)
	r.h.Ops = append(r.h.Ops, Op{ID: id, Client: client, Kind: kind, Queue: queue, Input: in, Outcome: OutcomeUnknown, Call: r.clock})
	r.done = append(r.done, false)
	return id
}

// Complete records the return of op id.
func (r *Recorder) Complete(id int, outcome Outcome, out Output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock++
	op := &r.h.Ops[id]
	op.Outcome, op.Output, op.Return = outcome, out, r.clock
	r.done[id] = true
}

// History returns a copy; ops never completed are unknown, returning now.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h // the flags, then copies of what the recorder goes on changing
	h.Queues, h.Ops = map[string]QueueInfo{}, append([]Op(nil), r.h.Ops...)
	for k, v := range r.h.Queues {
		h.Queues[k] = v
	}
	for i := range h.Ops {
		if !r.done[i] {
			h.Ops[i].Outcome = OutcomeUnknown
			h.Ops[i].Return = r.clock + 1
		}
	}
	return h
}

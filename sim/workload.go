package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	lin "github.com/wharfmq/wharf/linearizability"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Workload limits.
const (
	opTimeout    = 3 * time.Second // a client's deadline per call
	maxVis       = 5               // seconds: the longest lease a client takes
	maxSendRetry = 2               // retries of a send whose outcome is unknown
	drainClient  = 1000            // the client id of the final drain
	drainVis     = 300             // seconds: drain leases never expire in the run
	// fifoGroups is how many message groups FIFO sends spread over: more
	// groups make smaller porcupine partitions.
	fifoGroups = 6
)

// queueSpec is one queue under test.
type queueSpec struct {
	name       string
	fifo       bool
	partitions int32
	// deadLetter and maxReceives: the redrive policy; a queue named as
	// another's deadLetter is sent nothing, it only receives moves.
	deadLetter  string
	maxReceives int32
	// delays: some sends to this queue ask for a delay.
	delays bool
	// retention is the queue's retention period in seconds (0: the
	// default); a queue with one expires everything before the drain.
	retention int32
}

// workloadQueues are created in this order (a dead-letter queue before its
// source) and drained in it (a source before its dead-letter queue).
var workloadQueues = []queueSpec{
	{name: "std", partitions: 2, delays: true},
	{name: "ord.fifo", fifo: true, partitions: 2},
	{name: "dl-src", partitions: 1, deadLetter: "dl-dead", maxReceives: 1},
	{name: "dl-dead", partitions: 1},
	{name: "ret", partitions: 1, retention: retentionSeconds},
}

// retentionSeconds is the "ret" queue's retention, the shortest allowed:
// the run waits it out before the drain (see settle).
const retentionSeconds = 60

// sendQueues are the queues clients send to: all but dead-letter queues.
var sendQueues = func() []queueSpec {
	isDLQ := map[string]bool{}
	for _, q := range workloadQueues {
		isDLQ[q.deadLetter] = true
	}
	var out []queueSpec
	for _, q := range workloadQueues {
		if !isDLQ[q.name] {
			out = append(out, q)
		}
	}
	return out
}()

// workload drives concurrent clients against a cluster and records every
// call into a linearizability.Recorder, following the History contract:
// unique bodies, retries of a send reuse its body and request id, a drain
// that deletes everything at the end.
type workload struct {
	c    *Cluster
	rec  *lin.Recorder
	seed uint64

	mu     sync.Mutex
	purges int
	stats  opStats
}

// opStats counts ops by outcome.
type opStats struct {
	OK, Fail, Unknown int
}

func newWorkload(c *Cluster, seed uint64) *workload {
	return &workload{c: c, rec: lin.NewRecorder(), seed: seed}
}

// createQueues creates the queues, retrying while the cluster settles.
func (w *workload) createQueues(ctx context.Context) error {
	for i := len(workloadQueues) - 1; i >= 0; i-- {
		q := workloadQueues[i]
		req := &wharfv1.CreateQueueRequest{Name: q.name, Fifo: q.fifo, Partitions: &q.partitions}
		if q.retention > 0 {
			req.MessageRetentionSeconds = &q.retention
		}
		if q.deadLetter != "" {
			req.RedrivePolicy = &wharfv1.RedrivePolicy{DeadLetterQueue: q.deadLetter, MaxReceiveCount: q.maxReceives}
		}
		var err error
		for attempt := range 50 {
			n := w.c.Node(uint64(attempt%w.c.Size()) + 1)
			if n == nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err = n.CreateQueue(cctx, req)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("create queue %s: %w", q.name, err)
		}
		w.rec.SetQueue(q.name, lin.QueueInfo{FIFO: q.fifo, DeadLetter: q.deadLetter, MaxReceiveCount: q.maxReceives,
			ExpireBeforeDrain: q.retention > 0})
	}
	return nil
}

// outcomeOf classifies an error: codes that say the request was refused
// with no effect are failures; anything else (deadline, unavailable,
// internal) leaves the outcome unknown, since the request may have been
// applied.
func outcomeOf(err error) lin.Outcome {
	if err == nil {
		return lin.OutcomeOK
	}
	switch core.CodeOf(err) {
	case core.InvalidArgument, core.NotFound, core.AlreadyExists, core.FailedPrecondition, core.ResourceExhausted:
		return lin.OutcomeFail
	}
	return lin.OutcomeUnknown
}

// entryOutcome is outcomeOf for a failed batch entry: the server says
// whether the request was at fault (nothing happened) or not (unknown).
func entryOutcome(senderFault bool) lin.Outcome {
	if senderFault {
		return lin.OutcomeFail
	}
	return lin.OutcomeUnknown
}

// client is one simulated client: its own seeded choices, its own receipt
// handles.
type client struct {
	w       *workload
	id      int
	rng     *rand.Rand
	sent    int
	handles []held
	// lastFIFO is this client's latest FIFO send, whose deduplication id
	// a later send may reuse (a new body and request id: the queue must
	// store nothing and answer with the first message's id).
	lastFIFO *lin.SendEntry
}

type held struct {
	queue, handle string
}

// call runs one recorded operation on a random live node. f returns the
// output and error; the outcome follows from the error, except that an
// answer from a node that crashed during the call is unknown (it never
// left the node). It returns the outcome, or "" if no node was up (no op
// recorded).
func (cl *client) call(ctx context.Context, kind lin.Kind, queue string, in lin.Input,
	f func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome)) (lin.Outcome, lin.Output) {
	size := cl.w.c.Size()
	first := cl.rng.IntN(size)
	var n *node.Node
	var id, epoch uint64
	for i := range size {
		id = uint64((first+i)%size) + 1
		if n, epoch = cl.w.c.NodeEpoch(id); n != nil {
			break
		}
	}
	if n == nil {
		time.Sleep(100 * time.Millisecond)
		return "", lin.Output{}
	}
	op := cl.w.rec.Invoke(cl.id, kind, queue, in)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	out, outcome := f(cctx, n)
	cancel()
	if cl.w.c.Epoch(id) != epoch {
		outcome = lin.OutcomeUnknown
		out = lin.Output{Error: fmt.Sprintf("node %d crashed during the call", id)}
	}
	cl.w.rec.Complete(op, outcome, out)
	cl.w.mu.Lock()
	switch outcome {
	case lin.OutcomeOK:
		cl.w.stats.OK++
	case lin.OutcomeFail:
		cl.w.stats.Fail++
	default:
		cl.w.stats.Unknown++
	}
	cl.w.mu.Unlock()
	return outcome, out
}

func errOutput(err error) lin.Output {
	if err == nil {
		return lin.Output{}
	}
	return lin.Output{Error: err.Error()}
}

// run issues up to maxOps operations until the deadline.
func (cl *client) run(ctx context.Context, maxOps int, deadline time.Time) {
	for ops := 0; ops < maxOps; ops++ {
		time.Sleep(time.Duration(cl.rng.IntN(200)) * time.Millisecond)
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return
		}
		q := workloadQueues[cl.rng.IntN(len(workloadQueues))]
		sq := sendQueues[cl.rng.IntN(len(sendQueues))]
		switch r := cl.rng.IntN(100); {
		case r < 30:
			cl.send(ctx, sq, deadline)
		case r < 40:
			cl.sendBatch(ctx, sq, deadline)
		case r < 70:
			cl.receive(ctx, q, int32(1+cl.rng.IntN(4)), int32(1+cl.rng.IntN(maxVis)), int32(cl.rng.IntN(2)))
		case r < 85:
			cl.deleteOne(ctx)
		case r < 99:
			cl.changeVisibility(ctx)
		default:
			cl.purge(ctx, q)
		}
	}
}

func (cl *client) nextBody() string {
	cl.sent++
	return fmt.Sprintf("c%d-%d", cl.id, cl.sent)
}

func (cl *client) entry(q queueSpec) lin.SendEntry {
	body := cl.nextBody()
	e := lin.SendEntry{Body: body, RequestID: "rq-" + body}
	if q.fifo {
		e.GroupID = fmt.Sprintf("g%d", cl.rng.IntN(fifoGroups))
		e.DedupID = "dd-" + body
		if last := cl.lastFIFO; last != nil && cl.rng.IntN(6) == 0 {
			e.GroupID, e.DedupID = last.GroupID, last.DedupID
		}
		cl.lastFIFO = &e
	}
	return e
}

func (cl *client) send(ctx context.Context, q queueSpec, deadline time.Time) {
	e := cl.entry(q)
	in := lin.Input{Body: e.Body, GroupID: e.GroupID, DedupID: e.DedupID, RequestID: e.RequestID}
	var delay *int32
	if q.delays && cl.rng.IntN(4) == 0 {
		d := int32(1 + cl.rng.IntN(3))
		delay = &d
	}
	for try := 0; try <= maxSendRetry; try++ {
		outcome, _ := cl.call(ctx, lin.KindSend, q.name, in, func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
			resp, err := n.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: q.name, Body: e.Body,
				MessageGroupId: e.GroupID, MessageDeduplicationId: e.DedupID, RequestId: e.RequestID, DelaySeconds: delay})
			if err != nil {
				return errOutput(err), outcomeOf(err)
			}
			return lin.Output{MessageIDs: []string{resp.GetMessageId()}, SequenceNumbers: []string{resp.GetSequenceNumber()}}, lin.OutcomeOK
		})
		if outcome != lin.OutcomeUnknown && outcome != "" || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (cl *client) sendBatch(ctx context.Context, q queueSpec, deadline time.Time) {
	entries := make([]lin.SendEntry, 2+cl.rng.IntN(3))
	req := &wharfv1.SendMessageBatchRequest{Queue: q.name}
	for i := range entries {
		entries[i] = cl.entry(q)
		e := entries[i]
		req.Entries = append(req.Entries, &wharfv1.SendMessageBatchRequestEntry{Id: fmt.Sprintf("e%d", i), Body: e.Body,
			MessageGroupId: e.GroupID, MessageDeduplicationId: e.DedupID, RequestId: e.RequestID})
	}
	in := lin.Input{Entries: entries}
	for try := 0; try <= maxSendRetry; try++ {
		outcome, out := cl.call(ctx, lin.KindSendBatch, q.name, in, func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
			resp, err := n.SendMessageBatch(ctx, req)
			if err != nil {
				return errOutput(err), outcomeOf(err)
			}
			out := lin.Output{
				MessageIDs:      make([]string, len(entries)),
				SequenceNumbers: make([]string, len(entries)),
				EntryOutcomes:   make([]lin.Outcome, len(entries)),
			}
			for i := range entries {
				out.EntryOutcomes[i] = lin.OutcomeUnknown // not answered
			}
			idx := func(id string) int {
				var i int
				if _, err := fmt.Sscanf(id, "e%d", &i); err != nil || i < 0 || i >= len(entries) {
					return -1
				}
				return i
			}
			for _, s := range resp.GetSuccessful() {
				if i := idx(s.GetId()); i >= 0 {
					out.MessageIDs[i], out.SequenceNumbers[i], out.EntryOutcomes[i] = s.GetMessageId(), s.GetSequenceNumber(), lin.OutcomeOK
				}
			}
			for _, f := range resp.GetFailed() {
				if i := idx(f.GetId()); i >= 0 {
					out.EntryOutcomes[i] = entryOutcome(f.GetSenderFault())
				}
			}
			return out, lin.OutcomeOK
		})
		retry := outcome == lin.OutcomeUnknown
		for _, o := range out.EntryOutcomes {
			retry = retry || o == lin.OutcomeUnknown
		}
		if !retry || outcome == "" || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receive receives and keeps the handles; it returns the messages and
// whether the call was acknowledged.
func (cl *client) receive(ctx context.Context, q queueSpec, max, vis, wait int32) ([]lin.Received, lin.Outcome) {
	in := lin.Input{VisibilitySeconds: vis, MaxMessages: max}
	outcome, out := cl.call(ctx, lin.KindReceive, q.name, in, func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
		resp, err := n.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: q.name, MaxMessages: max,
			VisibilityTimeoutSeconds: &vis, WaitTimeSeconds: &wait})
		if err != nil {
			return errOutput(err), outcomeOf(err)
		}
		var out lin.Output
		for _, m := range resp.GetMessages() {
			// The lease began at the receive's log time: its end, which
			// the response carries, less the visibility timeout.
			out.Messages = append(out.Messages, lin.Received{MessageID: m.GetMessageId(), Body: m.GetBody(),
				GroupID: m.GetMessageGroupId(), SequenceNumber: m.GetSequenceNumber(), ReceiveCount: m.GetReceiveCount(),
				ReceiptHandle: m.GetReceiptHandle(), AppliedAtMs: m.GetVisibleAtTimestamp() - int64(vis)*1000})
		}
		return out, lin.OutcomeOK
	})
	if outcome != lin.OutcomeOK {
		return nil, outcome
	}
	for _, m := range out.Messages {
		cl.handles = append(cl.handles, held{queue: q.name, handle: m.ReceiptHandle})
	}
	return out.Messages, outcome
}

// takeHandle removes and returns a random held handle.
func (cl *client) takeHandle() (held, bool) {
	if len(cl.handles) == 0 {
		return held{}, false
	}
	i := cl.rng.IntN(len(cl.handles))
	h := cl.handles[i]
	cl.handles = append(cl.handles[:i], cl.handles[i+1:]...)
	return h, true
}

func (cl *client) deleteOne(ctx context.Context) {
	h, ok := cl.takeHandle()
	if !ok {
		return
	}
	cl.delete(ctx, h)
}

func (cl *client) delete(ctx context.Context, h held) lin.Outcome {
	outcome, _ := cl.call(ctx, lin.KindDelete, h.queue, lin.Input{ReceiptHandle: h.handle},
		func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
			_, err := n.DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: h.queue, ReceiptHandle: h.handle})
			return errOutput(err), outcomeOf(err)
		})
	return outcome
}

func (cl *client) changeVisibility(ctx context.Context) {
	if len(cl.handles) == 0 {
		return
	}
	h := cl.handles[cl.rng.IntN(len(cl.handles))]
	vis := int32(cl.rng.IntN(4))
	cl.call(ctx, lin.KindChangeVisibility, h.queue, lin.Input{ReceiptHandle: h.handle, VisibilitySeconds: vis},
		func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
			_, err := n.ChangeMessageVisibility(ctx, &wharfv1.ChangeMessageVisibilityRequest{Queue: h.queue,
				ReceiptHandle: h.handle, VisibilityTimeoutSeconds: vis})
			return errOutput(err), outcomeOf(err)
		})
}

// purge purges a queue; at most one purge per run, so that most sends stay
// checkable by CheckTotal.
func (cl *client) purge(ctx context.Context, q queueSpec) {
	cl.w.mu.Lock()
	if cl.w.purges > 0 {
		cl.w.mu.Unlock()
		return
	}
	cl.w.purges++
	cl.w.mu.Unlock()
	cl.call(ctx, lin.KindPurge, q.name, lin.Input{}, func(ctx context.Context, n *node.Node) (lin.Output, lin.Outcome) {
		_, err := n.PurgeQueue(ctx, &wharfv1.PurgeQueueRequest{Queue: q.name})
		return errOutput(err), outcomeOf(err)
	})
}

// drain receives and deletes every message of every queue, once every
// lease has expired, until each queue is empty by both a receive and its
// counts, or until budget runs out. It returns what it could not finish.
func (w *workload) drain(ctx context.Context, budget time.Duration) error {
	cl := &client{w: w, id: drainClient, rng: rand.New(rand.NewPCG(w.seed, drainClient))}
	end := time.Now().Add(budget)
	var errs []error
	// Passes until one finds nothing: a message the drain of a source
	// moves to its dead-letter queue is imported there asynchronously,
	// possibly after that queue looked empty.
	for pass := 0; pass < 4 && len(errs) == 0; pass++ {
		if got := w.drainPass(ctx, cl, end, &errs); got == 0 && pass > 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// drainPass drains each queue in turn until it is empty by both a receive
// and its counts; it returns how many messages it received.
func (w *workload) drainPass(ctx context.Context, cl *client, end time.Time, errs *[]error) int {
	got := 0
	for _, q := range workloadQueues {
		empty := 0
		for empty < 2 {
			if !time.Now().Before(end) {
				*errs = append(*errs, fmt.Errorf("drain of %s unfinished", q.name))
				return got
			}
			msgs, outcome := cl.receive(ctx, q, 10, drainVis, 1)
			if outcome != lin.OutcomeOK {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for _, m := range msgs {
				for try := 0; try < 5; try++ {
					if o := cl.delete(ctx, held{queue: q.name, handle: m.ReceiptHandle}); o == lin.OutcomeOK || o == lin.OutcomeFail {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			cl.handles = nil
			got += len(msgs)
			if len(msgs) > 0 {
				empty = 0
				continue
			}
			if w.queueEmpty(ctx, q.name) {
				empty++
			} else {
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	return got
}

// queueEmpty reports whether a queue's counts say it holds nothing.
func (w *workload) queueEmpty(ctx context.Context, name string) bool {
	for id := uint64(1); id <= uint64(w.c.Size()); id++ {
		n := w.c.Node(id)
		if n == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		resp, err := n.GetQueue(cctx, &wharfv1.GetQueueRequest{Queue: name})
		cancel()
		if err != nil {
			continue
		}
		q := resp.GetQueue()
		return q.GetApproximateNumberOfMessages()+q.GetApproximateNumberOfMessagesNotVisible()+q.GetApproximateNumberOfMessagesDelayed() == 0
	}
	return false
}

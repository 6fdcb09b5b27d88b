package jepsen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/twitchtv/twirp"

	lin "github.com/wharfmq/wharf/linearizability"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// The queues under test. The dead-letter pair is judged by CheckDLQ only:
// the linearizability checkers assume no dead-letter queue.
const (
	QueueStd     = "jq-std"
	QueueFIFO    = "jq-ord.fifo"
	QueueDLQSrc  = "jq-dlq-src"
	QueueDLQDead = "jq-dlq-dead"

	// DLQMaxReceives is the source queue's max_receive_count.
	DLQMaxReceives = 2
	dlqVisibility  = 1  // seconds: the source queue's leases
	fifoGroups     = 40 // many groups keep porcupine's partitions small
	maxVisibility  = 4  // seconds: the longest lease a client takes
	drainVis       = 20
	// drainClient is the client id of the final drain's ops.
	drainClient = 1000
	// resendWithin bounds how old a send may be when it is sent again on
	// purpose (well inside the 5-minute deduplication window).
	resendWithin = 2 * time.Minute
)

// Workloads names the workloads a run can mix.
var Workloads = []string{"total", "fifo", "dlq"}

// opTiming is the wall-clock side of a recorded op, for the plots.
type opTiming struct {
	Op      int           `json:"op"`
	Client  int           `json:"client"`
	Node    int           `json:"node"`
	Kind    lin.Kind      `json:"kind"`
	Queue   string        `json:"queue"`
	Start   time.Duration `json:"start_ns"` // since the run began
	End     time.Duration `json:"end_ns"`
	Outcome lin.Outcome   `json:"outcome"`
}

// workload runs the clients and records the history.
type workload struct {
	c         *Cluster
	rec       *lin.Recorder
	began     time.Time
	opTimeout time.Duration
	kinds     []string

	// drainNodes are the nodes ready when the drain began.
	drainNodes []int

	mu      sync.Mutex
	timings []opTiming
	svcs    map[int]wharfv1.QueueService
}

func newWorkload(c *Cluster, kinds []string, opTimeout time.Duration, began time.Time) *workload {
	return &workload{c: c, rec: lin.NewRecorder(), began: began, opTimeout: opTimeout, kinds: kinds, svcs: map[int]wharfv1.QueueService{}}
}

// svc is the Twirp client of node id (one attempt, no retries: the
// history must say what each request did).
func (w *workload) svc(id int) wharfv1.QueueService {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.svcs[id]; ok {
		return s
	}
	n := w.c.Node(id)
	addr := "127.0.0.1:1"
	if n != nil {
		addr = n.APIAddr
	}
	s := wharfv1.NewQueueServiceProtobufClient(w.c.apiURL(addr), w.c.signed(w.c.httpClient(w.opTimeout+25*time.Second)))
	w.svcs[id] = s
	return s
}

func (w *workload) has(kind string) bool {
	for _, k := range w.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// setup creates the queues, retrying while the cluster settles.
func (w *workload) setup(ctx context.Context) error {
	i32 := func(v int32) *int32 { return &v }
	var reqs []*wharfv1.CreateQueueRequest
	if w.has("total") {
		reqs = append(reqs, &wharfv1.CreateQueueRequest{Name: QueueStd, Partitions: i32(2)})
		w.rec.SetQueue(QueueStd, lin.QueueInfo{})
	}
	if w.has("fifo") {
		reqs = append(reqs, &wharfv1.CreateQueueRequest{Name: QueueFIFO, Fifo: true, Partitions: i32(2)})
		w.rec.SetQueue(QueueFIFO, lin.QueueInfo{FIFO: true})
	}
	if w.has("dlq") {
		reqs = append(reqs, &wharfv1.CreateQueueRequest{Name: QueueDLQDead},
			&wharfv1.CreateQueueRequest{Name: QueueDLQSrc, VisibilityTimeoutSeconds: i32(dlqVisibility),
				RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: QueueDLQDead, MaxReceiveCount: DLQMaxReceives}})
		w.rec.SetQueue(QueueDLQSrc, lin.QueueInfo{DeadLetter: QueueDLQDead, MaxReceiveCount: DLQMaxReceives})
		w.rec.SetQueue(QueueDLQDead, lin.QueueInfo{})
	}
	ids := w.c.IDs()
	for _, req := range reqs {
		var err error
		for attempt := range 60 {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = w.svc(ids[attempt%len(ids)]).CreateQueue(cctx, req)
			cancel()
			var tw twirp.Error
			if err == nil || errors.As(err, &tw) && tw.Code() == twirp.AlreadyExists {
				err = nil
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("create queue %s: %w", req.Name, err)
		}
	}
	return nil
}

// outcomeOf classifies an error: the server's refusals and a connection
// that was never made did nothing; timeouts, unavailable, internal,
// canceled and lost connections may have done anything.
func outcomeOf(err error) lin.Outcome {
	if err == nil {
		return lin.OutcomeOK
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return lin.OutcomeFail
	}
	var tw twirp.Error
	if errors.As(err, &tw) {
		switch tw.Code() {
		case twirp.InvalidArgument, twirp.NotFound, twirp.AlreadyExists, twirp.FailedPrecondition,
			twirp.ResourceExhausted, twirp.Malformed, twirp.BadRoute, twirp.OutOfRange, twirp.PermissionDenied:
			return lin.OutcomeFail
		}
	}
	return lin.OutcomeUnknown
}

// call records one op against node id: invoke, run f with the op timeout
// (plus wait, for long polls), complete with the outcome of its error.
func (w *workload) call(ctx context.Context, client, node int, kind lin.Kind, queue string, in lin.Input, wait time.Duration,
	f func(ctx context.Context, svc wharfv1.QueueService) (lin.Output, error)) (lin.Outcome, lin.Output) {
	id := w.rec.Invoke(client, kind, queue, in)
	start := time.Since(w.began)
	cctx, cancel := context.WithTimeout(ctx, w.opTimeout+wait)
	out, err := f(cctx, w.svc(node))
	cancel()
	outcome := outcomeOf(err)
	if err != nil {
		out.Error = err.Error()
	}
	if ctx.Err() != nil && outcome == lin.OutcomeFail {
		outcome = lin.OutcomeUnknown
	}
	w.rec.Complete(id, outcome, out)
	w.mu.Lock()
	w.timings = append(w.timings, opTiming{Op: id, Client: client, Node: node, Kind: kind, Queue: queue,
		Start: start, End: time.Since(w.began), Outcome: outcome})
	w.mu.Unlock()
	return outcome, out
}

// handle is a receipt handle a client holds.
type handle struct {
	queue, handle string
}

// sent is an acknowledged send a client may send again on purpose.
type sent struct {
	in  lin.Input
	at  time.Time
	grp string
}

// client is one logical client: it picks a node per op, at random.
type client struct {
	w    *workload
	id   int
	rng  *mrand.Rand
	n    int
	held []handle
	sent []sent
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (cl *client) node() int {
	ids := cl.w.c.IDs()
	if cl.id == drainClient && len(cl.w.drainNodes) > 0 {
		// The drain comes after the heal: only nodes that were ready.
		ids = cl.w.drainNodes
	}
	return ids[cl.rng.IntN(len(ids))]
}

// step runs one op of a workload picked at random.
func (cl *client) step(ctx context.Context) {
	kind := cl.w.kinds[cl.rng.IntN(len(cl.w.kinds))]
	switch kind {
	case "total":
		cl.queueStep(ctx, QueueStd, false)
	case "fifo":
		cl.queueStep(ctx, QueueFIFO, true)
	case "dlq":
		cl.dlqStep(ctx)
	}
}

func (cl *client) heldOn(queue string) []int {
	var idx []int
	for i, h := range cl.held {
		if h.queue == queue {
			idx = append(idx, i)
		}
	}
	return idx
}

// queueStep: send, resend, receive, delete or change visibility.
func (cl *client) queueStep(ctx context.Context, queue string, fifo bool) {
	r := cl.rng.Float64()
	if idx := cl.heldOn(queue); len(idx) > 0 && r < 0.45 {
		i := idx[cl.rng.IntN(len(idx))]
		h := cl.held[i]
		cl.held = append(cl.held[:i], cl.held[i+1:]...)
		if cl.rng.Float64() < 0.8 {
			cl.delete(ctx, h)
		} else {
			cl.changeVisibility(ctx, h, int32(cl.rng.IntN(maxVisibility)))
		}
		return
	}
	switch {
	case r < 0.75:
		cl.n++
		in := lin.Input{Body: fmt.Sprintf("%s-c%d-%d", map[bool]string{false: "s", true: "f"}[fifo], cl.id, cl.n), RequestID: newRequestID()}
		if fifo {
			in.GroupID = fmt.Sprintf("g%d", cl.rng.IntN(fifoGroups))
			in.DedupID = in.Body
		}
		cl.send(ctx, queue, in, true)
	case r < 0.8:
		// Send an acknowledged message again: on a standard queue with
		// its request id, on a FIFO queue with its deduplication id and a
		// new request id. Either way it must be stored once.
		var cands []sent
		for _, s := range cl.sent {
			if s.grp == queue && time.Since(s.at) < resendWithin {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			return
		}
		in := cands[cl.rng.IntN(len(cands))].in
		if fifo {
			in.RequestID = newRequestID()
		}
		cl.send(ctx, queue, in, false)
	default:
		vis := int32(2 + cl.rng.IntN(maxVisibility-1))
		max := int32(1 + cl.rng.IntN(3))
		var wait int32
		if cl.rng.IntN(3) == 0 {
			wait = 1
		}
		msgs, _ := cl.receive(ctx, cl.id, queue, max, vis, wait)
		for _, m := range msgs {
			// Some leases are left to expire: the message comes back.
			if cl.rng.Float64() < 0.85 {
				cl.held = append(cl.held, handle{queue, m.ReceiptHandle})
			}
		}
		if len(cl.held) > 20 {
			cl.held = cl.held[len(cl.held)-20:]
		}
	}
}

func (cl *client) send(ctx context.Context, queue string, in lin.Input, remember bool) lin.Outcome {
	outcome, _ := cl.w.call(ctx, cl.id, cl.node(), lin.KindSend, queue, in, 0, func(ctx context.Context, svc wharfv1.QueueService) (lin.Output, error) {
		resp, err := svc.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: queue, Body: in.Body,
			MessageGroupId: in.GroupID, MessageDeduplicationId: in.DedupID, RequestId: in.RequestID})
		if err != nil {
			return lin.Output{}, err
		}
		return lin.Output{MessageIDs: []string{resp.MessageId}, SequenceNumbers: []string{resp.SequenceNumber}}, nil
	})
	if remember && outcome == lin.OutcomeOK {
		cl.sent = append(cl.sent, sent{in: in, at: time.Now(), grp: queue})
		if len(cl.sent) > 50 {
			cl.sent = cl.sent[1:]
		}
	}
	return outcome
}

// receive records one receive; each message's AppliedAtMs is its lease's
// start on the queue's clock (visible_at minus the visibility timeout).
func (cl *client) receive(ctx context.Context, client int, queue string, max, vis, wait int32) ([]lin.Received, lin.Outcome) {
	in := lin.Input{VisibilitySeconds: vis, MaxMessages: max}
	outcome, out := cl.w.call(ctx, client, cl.node(), lin.KindReceive, queue, in, time.Duration(wait)*time.Second,
		func(ctx context.Context, svc wharfv1.QueueService) (lin.Output, error) {
			resp, err := svc.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: queue, MaxMessages: max,
				VisibilityTimeoutSeconds: &vis, WaitTimeSeconds: &wait})
			if err != nil {
				return lin.Output{}, err
			}
			var o lin.Output
			for _, m := range resp.Messages {
				r := lin.Received{MessageID: m.MessageId, Body: m.Body, GroupID: m.MessageGroupId,
					SequenceNumber: m.SequenceNumber, ReceiveCount: m.ReceiveCount, ReceiptHandle: m.ReceiptHandle}
				if m.VisibleAtTimestamp != 0 {
					r.AppliedAtMs = m.VisibleAtTimestamp - int64(vis)*1000
				}
				o.Messages = append(o.Messages, r)
			}
			return o, nil
		})
	return out.Messages, outcome
}

func (cl *client) delete(ctx context.Context, h handle) lin.Outcome {
	outcome, _ := cl.w.call(ctx, cl.id, cl.node(), lin.KindDelete, h.queue, lin.Input{ReceiptHandle: h.handle}, 0,
		func(ctx context.Context, svc wharfv1.QueueService) (lin.Output, error) {
			_, err := svc.DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: h.queue, ReceiptHandle: h.handle})
			return lin.Output{}, err
		})
	return outcome
}

func (cl *client) changeVisibility(ctx context.Context, h handle, vis int32) {
	cl.w.call(ctx, cl.id, cl.node(), lin.KindChangeVisibility, h.queue, lin.Input{ReceiptHandle: h.handle, VisibilitySeconds: vis}, 0,
		func(ctx context.Context, svc wharfv1.QueueService) (lin.Output, error) {
			_, err := svc.ChangeMessageVisibility(ctx, &wharfv1.ChangeMessageVisibilityRequest{Queue: h.queue,
				ReceiptHandle: h.handle, VisibilityTimeoutSeconds: vis})
			return lin.Output{}, err
		})
}

// dlqStep sends to the source queue, or receives from it and deletes
// about half of what it gets at once; the rest is never deleted and, after
// DLQMaxReceives deliveries, moves to the dead-letter queue.
func (cl *client) dlqStep(ctx context.Context) {
	if cl.rng.Float64() < 0.5 {
		cl.n++
		cl.send(ctx, QueueDLQSrc, lin.Input{Body: fmt.Sprintf("d-c%d-%d", cl.id, cl.n), RequestID: newRequestID()}, false)
		return
	}
	msgs, _ := cl.receive(ctx, cl.id, QueueDLQSrc, int32(1+cl.rng.IntN(3)), dlqVisibility, 0)
	for _, m := range msgs {
		if cl.rng.Float64() < 0.5 {
			cl.delete(ctx, handle{QueueDLQSrc, m.ReceiptHandle})
		}
	}
}

// run drives clients until ctx ends, at about rate ops per second in all.
func (w *workload) run(ctx context.Context, clients int, rate float64, seed uint64) {
	tokens := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default: // every client is busy: the op is skipped
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range clients {
		cl := &client{w: w, id: i, rng: mrand.New(mrand.NewPCG(seed, uint64(i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tokens:
				}
				cl.step(ctx)
			}
		}()
	}
	wg.Wait()
}

// drain receives and deletes from every queue until each is empty: the
// history's end that CheckTotal and CheckDLQ need. Leases taken by the
// drain outlast it; a receive whose outcome is unknown may have leased
// messages, so the drain goes on until those leases have expired too.
func (w *workload) drain(ctx context.Context, logf func(string, ...any)) error {
	var queues []string
	if w.has("total") {
		queues = append(queues, QueueStd)
	}
	if w.has("fifo") {
		queues = append(queues, QueueFIFO)
	}
	if w.has("dlq") {
		// The source first; its moves to the dead-letter queue finish
		// while it drains; then the dead-letter queue; then both again.
		queues = append(queues, QueueDLQSrc, QueueDLQDead, QueueDLQSrc, QueueDLQDead)
	}
	for _, id := range w.c.IDs() {
		if w.c.Ready(id) {
			w.drainNodes = append(w.drainNodes, id)
		}
	}
	logf("draining through nodes %v", w.drainNodes)
	cl := &client{w: w, id: drainClient, rng: mrand.New(mrand.NewPCG(1, 2))}
	for _, q := range queues {
		n, err := cl.drainQueue(ctx, q)
		logf("drained %s: %d messages", q, n)
		if err != nil {
			return err
		}
	}
	return nil
}

func (cl *client) drainQueue(ctx context.Context, queue string) (int, error) {
	empties, total := 0, 0
	var openUntil time.Time
	deadline := time.Now().Add(2 * time.Minute)
	for empties < 3 || time.Now().Before(openUntil) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return total, fmt.Errorf("drain of %s did not finish", queue)
		}
		msgs, outcome := cl.receive(ctx, drainClient, queue, 10, drainVis, 1)
		if outcome == lin.OutcomeUnknown {
			openUntil = time.Now().Add((drainVis + 2) * time.Second)
		}
		if outcome != lin.OutcomeOK {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if len(msgs) == 0 {
			empties++
			continue
		}
		empties = 0
		total += len(msgs)
		for _, m := range msgs {
			for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
				if cl.delete(ctx, handle{queue, m.ReceiptHandle}) != lin.OutcomeUnknown {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return total, nil
}

// CheckEmpty is the final read after the drain: every drained queue must
// count no message, visible, in flight or delayed (a message the drain
// could not see, such as one left in flight by a move, shows here). The
// counts are read until they are zero, for up to 10 s, through the nodes
// that were ready for the drain.
func (w *workload) checkEmpty(ctx context.Context) lin.Result {
	res := lin.Result{Checker: "empty", Valid: true}
	var queues []string
	for _, q := range []string{QueueStd, QueueFIFO, QueueDLQSrc, QueueDLQDead} {
		if _, ok := w.rec.History().Queues[q]; ok {
			queues = append(queues, q)
		}
	}
	nodes := w.drainNodes
	if len(nodes) == 0 {
		nodes = w.c.IDs()
	}
	for _, q := range queues {
		last := ""
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; ; i++ {
			node := nodes[i%len(nodes)]
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := w.svc(node).GetQueue(cctx, &wharfv1.GetQueueRequest{Queue: q})
			cancel()
			if err == nil {
				a := resp.Queue
				if a.ApproximateNumberOfMessages+a.ApproximateNumberOfMessagesNotVisible+a.ApproximateNumberOfMessagesDelayed == 0 {
					last = ""
					break
				}
				last = fmt.Sprintf("after the drain %s still counts %d visible, %d in flight, %d delayed messages",
					q, a.ApproximateNumberOfMessages, a.ApproximateNumberOfMessagesNotVisible, a.ApproximateNumberOfMessagesDelayed)
			} else {
				last = fmt.Sprintf("after the drain, GetQueue %s failed: %v", q, err)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second)
		}
		if last != "" {
			res.Valid = false
			res.AnomalyCount++
			res.Anomalies = append(res.Anomalies, last)
		}
	}
	return res
}

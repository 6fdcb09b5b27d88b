package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// These tests run real dragonboat on a temporary directory, listening on
// 127.0.0.1 only.

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type testNode struct {
	*Node
	t    *testing.T
	dir  string
	addr string
	opts func(*Config)
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WHARF_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startNode starts a node on a new directory; opts adjusts its Config.
func startNode(t *testing.T, opts func(*Config)) *testNode {
	t.Helper()
	tn := &testNode{t: t, dir: t.TempDir(), addr: freeAddr(t), opts: opts}
	tn.start()
	t.Cleanup(func() {
		if tn.Node != nil {
			tn.Close()
		}
	})
	return tn
}

func (tn *testNode) start() {
	tn.t.Helper()
	cfg := Config{NodeID: 1, DataDir: tn.dir, RaftAddr: tn.addr, QueueShards: 2, Logger: testLogger()}
	if tn.opts != nil {
		tn.opts(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		tn.t.Fatalf("start node: %v", err)
	}
	if !n.Ready() {
		tn.t.Fatal("node not ready after Start")
	}
	tn.Node = n
}

// restart closes the node and starts it again on the same data.
func (tn *testNode) restart() {
	tn.t.Helper()
	if err := tn.Close(); err != nil {
		tn.t.Fatal(err)
	}
	tn.Node = nil
	tn.start()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// must returns v, or panics on err (which fails the test with the stack):
// Go cannot pass a call's two results plus a *testing.T.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func wantCode(t *testing.T, err error, code core.Code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	e, ok := err.(*core.Error)
	if !ok {
		t.Fatalf("error %v is %T, not *core.Error", err, err)
	}
	if e.Code != code || (field != "" && e.Field != field) {
		t.Fatalf("error %v: code %v field %q, want %v %q", err, e.Code, e.Field, code, field)
	}
}

func i32(v int32) *int32 { return &v }

func createQueue(t *testing.T, n *testNode, req *wharfv1.CreateQueueRequest) *wharfv1.Queue {
	t.Helper()
	return must(n.CreateQueue(ctx(t), req)).GetQueue()
}

func send(t *testing.T, n *testNode, queue, body string) string {
	t.Helper()
	return must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: queue, Body: body})).GetMessageId()
}

func receive(t *testing.T, n *testNode, req *wharfv1.ReceiveMessageRequest) []*wharfv1.Message {
	t.Helper()
	if req.WaitTimeSeconds == nil {
		req.WaitTimeSeconds = i32(0)
	}
	return must(n.ReceiveMessage(ctx(t), req)).GetMessages()
}

func bodies(msgs []*wharfv1.Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.GetBody())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func getQueue(t *testing.T, n *testNode, name string) *wharfv1.Queue {
	t.Helper()
	return must(n.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: name})).GetQueue()
}

func TestSendReceiveDeleteSurviveRestart(t *testing.T) {
	n := startNode(t, nil)
	q := createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "orders"})
	if q.GetName() != "orders" || q.GetVisibilityTimeoutSeconds() != core.DefaultVisibilityTimeoutSeconds {
		t.Fatalf("created %v", q)
	}
	ids := map[string]bool{}
	for _, b := range []string{"a", "b", "c"} {
		id := send(t, n, "orders", b)
		if len(id) != 36 || id[14] != '4' || ids[id] {
			t.Fatalf("message id %q", id)
		}
		ids[id] = true
	}
	got := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "orders", MaxMessages: 2})
	if bodies(got) != "a,b" {
		t.Fatalf("received %q, want a,b", bodies(got))
	}
	for _, m := range got {
		if m.GetMd5OfBody() != md5Hex(m.GetBody()) || m.GetReceiveCount() != 1 || !ids[m.GetMessageId()] || m.GetSequenceNumber() != "" {
			t.Fatalf("message %v", m)
		}
	}
	must(n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "orders", ReceiptHandle: got[0].GetReceiptHandle()}))
	q = getQueue(t, n, "orders")
	if q.GetApproximateNumberOfMessages() != 1 || q.GetApproximateNumberOfMessagesNotVisible() != 1 {
		t.Fatalf("counts before restart: %v", q)
	}

	n.restart()

	q = getQueue(t, n, "orders")
	if q.GetApproximateNumberOfMessages() != 1 || q.GetApproximateNumberOfMessagesNotVisible() != 1 {
		t.Fatalf("counts after restart: %v", q)
	}
	// The receipt handle from before the restart still holds its lease.
	must(n.ChangeMessageVisibility(ctx(t), &wharfv1.ChangeMessageVisibilityRequest{
		Queue: "orders", ReceiptHandle: got[1].GetReceiptHandle(), VisibilityTimeoutSeconds: 0,
	}))
	again := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "orders", MaxMessages: 10})
	if bodies(again) != "b,c" {
		t.Fatalf("after restart received %q, want b,c", bodies(again))
	}
	// The old handle of b is stale now.
	_, err := n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "orders", ReceiptHandle: got[1].GetReceiptHandle()})
	wantCode(t, err, core.FailedPrecondition, "")
	resp := must(n.DeleteMessageBatch(ctx(t), &wharfv1.DeleteMessageBatchRequest{Queue: "orders", Entries: []*wharfv1.DeleteMessageBatchRequestEntry{
		{Id: "x", ReceiptHandle: again[0].GetReceiptHandle()},
		{Id: "y", ReceiptHandle: again[1].GetReceiptHandle()},
		{Id: "z", ReceiptHandle: "garbage"},
	}}))
	if len(resp.GetSuccessful()) != 2 || len(resp.GetFailed()) != 1 {
		t.Fatalf("delete batch: %v", resp)
	}
	if f := resp.GetFailed()[0]; f.GetId() != "z" || f.GetCode() != "invalid_argument" || !f.GetSenderFault() ||
		!strings.Contains(f.GetMessage(), "entries[2].receipt_handle") {
		t.Fatalf("failed entry %v", f)
	}
	q = getQueue(t, n, "orders")
	if q.GetApproximateNumberOfMessages()+q.GetApproximateNumberOfMessagesNotVisible() != 0 {
		t.Fatalf("queue not empty: %v", q)
	}
}

func TestLongPollWakesOnSend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue *wharfv1.CreateQueueRequest
		req   *wharfv1.ReceiveMessageRequest
		send  *wharfv1.SendMessageRequest
	}{
		{"standard", &wharfv1.CreateQueueRequest{Name: "jobs"},
			&wharfv1.ReceiveMessageRequest{Queue: "jobs", WaitTimeSeconds: i32(20)},
			&wharfv1.SendMessageRequest{Queue: "jobs", Body: "wake up"}},
		// The empty rounds of a FIFO long poll with an attempt id must not
		// be remembered as the attempt's answer.
		{"fifo with attempt id", &wharfv1.CreateQueueRequest{Name: "jobs.fifo", Fifo: true},
			&wharfv1.ReceiveMessageRequest{Queue: "jobs.fifo", WaitTimeSeconds: i32(20), ReceiveRequestAttemptId: "a1"},
			&wharfv1.SendMessageRequest{Queue: "jobs.fifo", Body: "wake up", MessageGroupId: "g", MessageDeduplicationId: "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testLongPollWakes(t, tc.queue, tc.req, tc.send) })
	}
}

func testLongPollWakes(t *testing.T, queue *wharfv1.CreateQueueRequest, req *wharfv1.ReceiveMessageRequest, sendReq *wharfv1.SendMessageRequest) {
	// With the fallback re-poll an hour away, only the wake from the send
	// can end the poll before its 20 s.
	n := startNode(t, func(c *Config) { c.pollInterval = time.Hour })
	createQueue(t, n, queue)
	type result struct {
		msgs []*wharfv1.Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := n.ReceiveMessage(context.Background(), req)
		done <- result{resp.GetMessages(), err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("long poll returned before the send: %v %v", r.msgs, r.err)
	default:
	}
	must(n.SendMessage(ctx(t), sendReq))
	r := <-done
	if r.err != nil || bodies(r.msgs) != "wake up" {
		t.Fatalf("long poll got %v, %v: it was not woken by the send", r.msgs, r.err)
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "idle", ReceiveWaitTimeSeconds: i32(1)})
	start := time.Now()
	// wait_time_seconds unset: the queue's receive_wait_time_seconds.
	resp, err := n.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "idle"})
	took := time.Since(start)
	if err != nil || len(resp.GetMessages()) != 0 {
		t.Fatalf("got %v, %v", resp, err)
	}
	if took < 900*time.Millisecond {
		t.Fatalf("long poll of 1 s returned after %v", took)
	}
	// A caller deadline shorter than the wait ends the poll in time.
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	resp, err = n.ReceiveMessage(c, &wharfv1.ReceiveMessageRequest{Queue: "idle", WaitTimeSeconds: i32(20)})
	// It answers (empty) rather than failing with the caller's deadline.
	if err != nil || len(resp.GetMessages()) != 0 {
		t.Fatalf("short-deadline poll: %v, %v after %v", resp, err, time.Since(start))
	}
}

func TestDelayedMessageReachesLongPoll(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "later"})
	must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "later", Body: "x", DelaySeconds: i32(1)}))
	if q := getQueue(t, n, "later"); q.GetApproximateNumberOfMessagesDelayed() != 1 {
		t.Fatalf("counts %v", q)
	}
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "later"}); len(msgs) != 0 {
		t.Fatalf("delayed message delivered early: %v", msgs)
	}
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "later", WaitTimeSeconds: i32(5)})
	if bodies(msgs) != "x" {
		t.Fatalf("got %v", msgs)
	}
}

func TestVisibilityTimeoutExpires(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "lease"})
	send(t, n, "lease", "m")
	first := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "lease", VisibilityTimeoutSeconds: i32(1)})
	if len(first) != 1 {
		t.Fatalf("got %v", first)
	}
	// The lease end the response carries is the receive's log time plus
	// the visibility timeout: after the first receive, before now+1 s.
	if lease := first[0].GetVisibleAtTimestamp() - first[0].GetFirstReceiveTimestamp(); lease != 1000 {
		t.Fatalf("visible at %d, first received at %d: lease of %d ms, want 1000",
			first[0].GetVisibleAtTimestamp(), first[0].GetFirstReceiveTimestamp(), lease)
	}
	again := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "lease", WaitTimeSeconds: i32(5)})
	if len(again) != 1 || again[0].GetReceiveCount() != 2 || again[0].GetReceiptHandle() == first[0].GetReceiptHandle() {
		t.Fatalf("redelivery %v", again)
	}
}

func TestErrors(t *testing.T) {
	n := startNode(t, nil)
	_, err := n.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "missing"})
	wantCode(t, err, core.NotFound, "")
	if !strings.Contains(err.Error(), `queue "missing" does not exist`) {
		t.Fatalf("message %q", err)
	}
	_, err = n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "bad name!", Body: "x"})
	wantCode(t, err, core.InvalidArgument, "queue")
	_, err = n.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "q", VisibilityTimeoutSeconds: i32(-1)})
	wantCode(t, err, core.InvalidArgument, "visibility_timeout_seconds")

	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "q"})
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "other"})
	_, err = n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "q", Body: ""})
	wantCode(t, err, core.InvalidArgument, "body")
	_, err = n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "q", ReceiptHandle: "!!"})
	wantCode(t, err, core.InvalidArgument, "receipt_handle")

	// A handle of one queue is not valid for another.
	send(t, n, "other", "x")
	m := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "other"})
	_, err = n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "q", ReceiptHandle: m[0].GetReceiptHandle()})
	wantCode(t, err, core.InvalidArgument, "receipt_handle")
	_, err = n.ChangeMessageVisibility(ctx(t), &wharfv1.ChangeMessageVisibilityRequest{
		Queue: "other", ReceiptHandle: m[0].GetReceiptHandle(), VisibilityTimeoutSeconds: 13 * 3600,
	})
	wantCode(t, err, core.InvalidArgument, "visibility_timeout_seconds")

	_, err = n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "q"})
	wantCode(t, err, core.InvalidArgument, "entries")
	_, err = n.ListQueues(ctx(t), &wharfv1.ListQueuesRequest{NextToken: "%%%"})
	wantCode(t, err, core.InvalidArgument, "next_token")
}

func TestSendBatchAndFIFO(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "std"})
	resp := must(n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "std", Entries: []*wharfv1.SendMessageBatchRequestEntry{
		{Id: "1", Body: "one"},
		{Id: "2", Body: ""},
		{Id: "3", Body: "three", DelaySeconds: i32(0)},
	}}))
	if len(resp.GetSuccessful()) != 2 || len(resp.GetFailed()) != 1 || resp.GetFailed()[0].GetId() != "2" ||
		!strings.Contains(resp.GetFailed()[0].GetMessage(), "entries[1].body") {
		t.Fatalf("batch: %v", resp)
	}
	if s := resp.GetSuccessful()[1]; s.GetId() != "3" || s.GetMd5OfBody() != md5Hex("three") {
		t.Fatalf("success entry %v", s)
	}

	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "f.fifo", Fifo: true, ContentBasedDeduplication: true})
	r1 := must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "f.fifo", Body: "x", MessageGroupId: "g"}))
	r2 := must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "f.fifo", Body: "x", MessageGroupId: "g"}))
	if r1.GetMessageId() != r2.GetMessageId() || r1.GetSequenceNumber() != r2.GetSequenceNumber() || r1.GetSequenceNumber() == "" {
		t.Fatalf("dedup: %v vs %v", r1, r2)
	}
	must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "f.fifo", Body: "y", MessageGroupId: "g"}))
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "f.fifo", MaxMessages: 10})
	if len(msgs) != 2 || msgs[0].GetBody() != "x" || msgs[1].GetBody() != "y" || msgs[0].GetMessageGroupId() != "g" ||
		msgs[0].GetSequenceNumber() != r1.GetSequenceNumber() || msgs[0].GetMessageDeduplicationId() == "" {
		t.Fatalf("fifo receive %v", msgs)
	}
	cv := must(n.ChangeMessageVisibilityBatch(ctx(t), &wharfv1.ChangeMessageVisibilityBatchRequest{Queue: "f.fifo",
		Entries: []*wharfv1.ChangeMessageVisibilityBatchRequestEntry{
			{Id: "a", ReceiptHandle: msgs[0].GetReceiptHandle(), VisibilityTimeoutSeconds: 0},
			{Id: "b", ReceiptHandle: msgs[1].GetReceiptHandle(), VisibilityTimeoutSeconds: 0},
		}}))
	if len(cv.GetSuccessful()) != 2 {
		t.Fatalf("change batch %v", cv)
	}
}

func TestQueueAdmin(t *testing.T) {
	n := startNode(t, nil)
	for i := range 5 {
		createQueue(t, n, &wharfv1.CreateQueueRequest{Name: fmt.Sprintf("page-%d", i)})
	}
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "zzz"})
	var names []string
	tok := ""
	for range 10 {
		resp := must(n.ListQueues(ctx(t), &wharfv1.ListQueuesRequest{Prefix: "page-", MaxResults: 2, NextToken: tok}))
		names = append(names, resp.GetQueues()...)
		if tok = resp.GetNextToken(); tok == "" {
			break
		}
	}
	if strings.Join(names, ",") != "page-0,page-1,page-2,page-3,page-4" {
		t.Fatalf("listed %v", names)
	}

	up := must(n.UpdateQueue(ctx(t), &wharfv1.UpdateQueueRequest{Queue: "page-0", VisibilityTimeoutSeconds: i32(99)})).GetQueue()
	if up.GetVisibilityTimeoutSeconds() != 99 {
		t.Fatalf("updated %v", up)
	}
	send(t, n, "page-1", "a")
	send(t, n, "page-1", "b")
	must(n.PurgeQueue(ctx(t), &wharfv1.PurgeQueueRequest{Queue: "page-1"}))
	if q := getQueue(t, n, "page-1"); q.GetApproximateNumberOfMessages() != 0 {
		t.Fatalf("after purge %v", q)
	}

	send(t, n, "page-2", "old")
	must(n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "page-2"}))
	_, err := n.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "page-2"})
	wantCode(t, err, core.NotFound, "")
	_, err = n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "page-2"})
	wantCode(t, err, core.NotFound, "")
	// A re-created queue shares nothing with its predecessor.
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "page-2"})
	if q := getQueue(t, n, "page-2"); q.GetApproximateNumberOfMessages() != 0 {
		t.Fatalf("re-created queue %v", q)
	}
}

func TestDeadLetterMove(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "dlq"})
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "src", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "dlq", MaxReceiveCount: 1}})
	id := send(t, n, "src", "poison")
	if m := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "src", VisibilityTimeoutSeconds: i32(0)}); len(m) != 1 {
		t.Fatalf("first receive %v", m)
	}
	// The second receive finds it received max_receive_count times already.
	if m := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "src"}); len(m) != 0 {
		t.Fatalf("second receive %v", m)
	}
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "dlq", WaitTimeSeconds: i32(5)})
	if len(msgs) != 1 || msgs[0].GetMessageId() != id || msgs[0].GetBody() != "poison" {
		t.Fatalf("dead-letter queue got %v", msgs)
	}
	if q := getQueue(t, n, "src"); q.GetApproximateNumberOfMessages()+q.GetApproximateNumberOfMessagesNotVisible() != 0 {
		t.Fatalf("source still holds it: %v", q)
	}
}

func TestSnapshotsAndRestart(t *testing.T) {
	n := startNode(t, func(c *Config) { c.SnapshotEntries = 10 })
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "snap"})
	// Enough metadata entries for the metadata shard to snapshot (and
	// restart from its snapshot) too.
	for i := range 25 {
		createQueue(t, n, &wharfv1.CreateQueueRequest{Name: fmt.Sprintf("extra-%02d", i)})
	}
	for i := range 60 {
		send(t, n, "snap", fmt.Sprintf("m%02d", i))
	}
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "snap", MaxMessages: 10})
	for _, m := range msgs[:5] {
		must(n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "snap", ReceiptHandle: m.GetReceiptHandle()}))
	}
	n.restart()
	q := getQueue(t, n, "snap")
	if q.GetApproximateNumberOfMessages() != 50 || q.GetApproximateNumberOfMessagesNotVisible() != 5 {
		t.Fatalf("after restart %v", q)
	}
	n.restart()
	if q := getQueue(t, n, "snap"); q.GetApproximateNumberOfMessages() != 50 {
		t.Fatalf("after second restart %v", q)
	}
	list := must(n.ListQueues(ctx(t), &wharfv1.ListQueuesRequest{Prefix: "extra-"}))
	if len(list.GetQueues()) != 25 {
		t.Fatalf("after restarts %d extra queues, want 25", len(list.GetQueues()))
	}
	// New queues after the restarts get fresh ids (the id counter came back
	// from the snapshot): their messages stay apart.
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "fresh"})
	send(t, n, "fresh", "f")
	if q := getQueue(t, n, "fresh"); q.GetApproximateNumberOfMessages() != 1 {
		t.Fatalf("fresh queue %v", q)
	}
}

func TestConcurrentSends(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "busy"})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "busy", Body: fmt.Sprintf("%d-%d", w, i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if q := getQueue(t, n, "busy"); q.GetApproximateNumberOfMessages() != 200 {
		t.Fatalf("counts %v", q)
	}
}

func TestCloseFailsRequestsUnavailable(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "q"})
	done := make(chan error, 1)
	go func() {
		_, err := n.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "q", WaitTimeSeconds: i32(20)})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	n.Close()
	select {
	case err := <-done:
		wantCode(t, err, core.Unavailable, "")
	case <-time.After(5 * time.Second):
		t.Fatal("long poll outlived Close")
	}
	if n.Ready() {
		t.Fatal("closed node is ready")
	}
	_, err := n.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	wantCode(t, err, core.Unavailable, "")
	n.Node = nil
}

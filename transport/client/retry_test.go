package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// scripted is a QueueService whose answers a test scripts per call: fate
// gets the method and the call's number (from 1) and returns how long the
// call takes and its error. The delay ignores the request's context, as a
// server that commits a request after the client stopped waiting does.
type scripted struct {
	wharfv1.QueueService
	fate func(method string, n int) (time.Duration, error)

	mu    sync.Mutex
	calls map[string]int
	// ids are the request ids of every send attempt, in order (one per
	// entry for batches).
	ids [][]string
}

func (s *scripted) enter(method string, ids ...string) error {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
	n := s.calls[method]
	if ids != nil {
		s.ids = append(s.ids, ids)
	}
	s.mu.Unlock()
	if s.fate == nil {
		return nil
	}
	d, err := s.fate(method, n)
	time.Sleep(d)
	return err
}

func (s *scripted) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *scripted) sendIDs() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.ids...)
}

func (s *scripted) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	if err := s.enter("SendMessage", req.GetRequestId()); err != nil {
		return nil, err
	}
	return &wharfv1.SendMessageResponse{MessageId: "m-" + req.GetRequestId()}, nil
}

func (s *scripted) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	ids := []string{}
	for _, e := range req.GetEntries() {
		ids = append(ids, e.GetRequestId())
	}
	if err := s.enter("SendMessageBatch", ids...); err != nil {
		return nil, err
	}
	resp := &wharfv1.SendMessageBatchResponse{}
	for _, e := range req.GetEntries() {
		resp.Successful = append(resp.Successful, &wharfv1.SendMessageBatchResultEntry{Id: e.GetId(), MessageId: "m-" + e.GetRequestId()})
	}
	return resp, nil
}

func (s *scripted) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	if err := s.enter("GetQueue"); err != nil {
		return nil, err
	}
	return &wharfv1.GetQueueResponse{Queue: &wharfv1.Queue{Name: req.GetQueue()}}, nil
}

func (s *scripted) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	if err := s.enter("PurgeQueue"); err != nil {
		return nil, err
	}
	return &wharfv1.PurgeQueueResponse{}, nil
}

func (s *scripted) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	if err := s.enter("ReceiveMessage"); err != nil {
		return nil, err
	}
	return &wharfv1.ReceiveMessageResponse{}, nil
}

func (s *scripted) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	if err := s.enter("DeleteMessage"); err != nil {
		return nil, err
	}
	return &wharfv1.DeleteMessageResponse{}, nil
}

// deadAddr returns an address nothing listens on: a port that was free a
// moment ago.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fast are options for tests: short pauses, a short per-attempt timeout.
func fast(attemptTimeout time.Duration) []Option {
	return []Option{WithBackoff(time.Millisecond, 5*time.Millisecond), WithAttemptTimeout(attemptTimeout)}
}

// failFirst fails the first call of method with err, after delay.
func failFirst(method string, delay time.Duration, err error) func(string, int) (time.Duration, error) {
	return func(m string, n int) (time.Duration, error) {
		if m == method && n == 1 {
			return delay, err
		}
		return 0, nil
	}
}

func TestFailoverToSecondEndpoint(t *testing.T) {
	svc := &scripted{}
	srv := startServer(t, svc)
	c := New([]string{deadAddr(t), srv.URL}, fast(time.Second)...)
	ctx := context.Background()

	// A refused connection did nothing, so every call may move on,
	// whether or not repeating it is harmless.
	if _, err := c.PurgeQueue(ctx, &wharfv1.PurgeQueueRequest{Queue: "q"}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: "q", Body: "b"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := c.GetQueue(ctx, &wharfv1.GetQueueRequest{Queue: "q"}); err != nil {
		t.Fatalf("get: %v", err)
	}
}

func TestUnavailableMovesOnAndSticks(t *testing.T) {
	down := &scripted{fate: func(string, int) (time.Duration, error) {
		return 0, core.Errorf(core.Unavailable, "shard has no leader; retry")
	}}
	up := &scripted{}
	c := New([]string{startServer(t, down).URL, startServer(t, up).URL}, fast(time.Second)...)
	for range 3 {
		if _, err := c.DeleteMessage(context.Background(), &wharfv1.DeleteMessageRequest{Queue: "q", ReceiptHandle: "h"}); err != nil {
			t.Fatal(err)
		}
	}
	// Calls start where the last one succeeded: the first endpoint was
	// tried once.
	if down.count("DeleteMessage") != 1 || up.count("DeleteMessage") != 3 {
		t.Errorf("calls: first endpoint %d, second %d; want 1 and 3", down.count("DeleteMessage"), up.count("DeleteMessage"))
	}
}

func TestSendRetriedAfterTimeoutWithSameRequestID(t *testing.T) {
	// The first attempt outlives the per-attempt timeout and then
	// succeeds on the server; the client has stopped waiting by then.
	svc := &scripted{fate: failFirst("SendMessage", 300*time.Millisecond, nil)}
	c := New([]string{startServer(t, svc).URL}, fast(50*time.Millisecond)...)

	req := &wharfv1.SendMessageRequest{Queue: "q", Body: "b"}
	resp, err := c.SendMessage(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ids := svc.sendIDs()
	if len(ids) != 2 {
		t.Fatalf("%d attempts reached the server, want 2: %v", len(ids), ids)
	}
	id := ids[0][0]
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("request id %q is not 128 bits of hex", id)
	}
	if ids[1][0] != id {
		t.Errorf("retry carried request id %q, the first attempt %q", ids[1][0], id)
	}
	if resp.GetMessageId() != "m-"+id {
		t.Errorf("response %v", resp)
	}
	if req.GetRequestId() != "" {
		t.Errorf("the caller's request was changed: request id %q", req.GetRequestId())
	}

	// Every send gets its own id.
	if _, err := c.SendMessage(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if ids := svc.sendIDs(); len(ids) != 3 || ids[2][0] == id {
		t.Errorf("a second send reused the first send's request id: %v", ids)
	}
}

func TestSendKeepsCallersRequestID(t *testing.T) {
	svc := &scripted{fate: failFirst("SendMessage", 0, core.Errorf(core.DeadlineExceeded, "propose: timeout; the request may or may not have taken effect"))}
	c := New([]string{startServer(t, svc).URL}, fast(time.Second)...)
	if _, err := c.SendMessage(context.Background(), &wharfv1.SendMessageRequest{Queue: "q", Body: "b", RequestId: "mine"}); err != nil {
		t.Fatal(err)
	}
	if ids := svc.sendIDs(); len(ids) != 2 || ids[0][0] != "mine" || ids[1][0] != "mine" {
		t.Errorf("request ids %v, want the caller's twice", ids)
	}
}

func TestBatchRetriedWithSameRequestIDs(t *testing.T) {
	svc := &scripted{fate: failFirst("SendMessageBatch", 300*time.Millisecond, nil)}
	c := New([]string{startServer(t, svc).URL}, fast(50*time.Millisecond)...)
	req := &wharfv1.SendMessageBatchRequest{Queue: "q", Entries: []*wharfv1.SendMessageBatchRequestEntry{
		{Id: "a", Body: "1"}, {Id: "b", Body: "2", RequestId: "given"}, {Id: "c", Body: "3"},
	}}
	if _, err := c.SendMessageBatch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	ids := svc.sendIDs()
	if len(ids) != 2 {
		t.Fatalf("%d attempts reached the server, want 2", len(ids))
	}
	first, retry := ids[0], ids[1]
	if first[1] != "given" || first[0] == "" || first[2] == "" || first[0] == first[2] {
		t.Errorf("request ids %v: want the given one kept and distinct new ones", first)
	}
	if strings.Join(first, ",") != strings.Join(retry, ",") {
		t.Errorf("retry carried %v, the first attempt %v", retry, first)
	}
	for _, e := range req.GetEntries() {
		if e.GetId() != "b" && e.GetRequestId() != "" {
			t.Errorf("the caller's entry %s was changed", e.GetId())
		}
	}
}

func TestNotRetriedAfterTimeout(t *testing.T) {
	// After a timeout these may have happened; repeating them is not
	// harmless, so the caller gets the timeout.
	calls := map[string]func(wharfv1.QueueService) error{
		"PurgeQueue": func(c wharfv1.QueueService) error {
			_, err := c.PurgeQueue(context.Background(), &wharfv1.PurgeQueueRequest{Queue: "q"})
			return err
		},
		"DeleteMessage": func(c wharfv1.QueueService) error {
			_, err := c.DeleteMessage(context.Background(), &wharfv1.DeleteMessageRequest{Queue: "q", ReceiptHandle: "h"})
			return err
		},
		"ReceiveMessage": func(c wharfv1.QueueService) error {
			wait := int32(0)
			_, err := c.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "q", WaitTimeSeconds: &wait})
			return err
		},
	}
	for method, run := range calls {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			t.Run("client timeout", func(t *testing.T) {
				svc := &scripted{fate: failFirst(method, 300*time.Millisecond, nil)}
				err := run(New([]string{startServer(t, svc).URL}, fast(50*time.Millisecond)...))
				if codeOf(err) != twirp.DeadlineExceeded || svc.count(method) != 1 {
					t.Errorf("got %v after %d calls, want deadline_exceeded after 1", err, svc.count(method))
				}
			})
			t.Run("server timeout", func(t *testing.T) {
				svc := &scripted{fate: failFirst(method, 0, core.Errorf(core.DeadlineExceeded, "may or may not have taken effect"))}
				err := run(New([]string{startServer(t, svc).URL}, fast(time.Second)...))
				if codeOf(err) != twirp.DeadlineExceeded || svc.count(method) != 1 {
					t.Errorf("got %v after %d calls, want deadline_exceeded after 1", err, svc.count(method))
				}
			})
			t.Run("unavailable is retried", func(t *testing.T) {
				svc := &scripted{fate: failFirst(method, 0, core.Errorf(core.Unavailable, "retry"))}
				if err := run(New([]string{startServer(t, svc).URL}, fast(time.Second)...)); err != nil || svc.count(method) != 2 {
					t.Errorf("got %v after %d calls, want success after 2", err, svc.count(method))
				}
			})
		})
	}
}

func TestServerErrorsAreNotRetried(t *testing.T) {
	svc := &scripted{fate: func(string, int) (time.Duration, error) {
		return 0, core.FieldError("body", "must not be empty")
	}}
	_, err := New([]string{startServer(t, svc).URL}, fast(time.Second)...).SendMessage(context.Background(), &wharfv1.SendMessageRequest{Queue: "q"})
	if codeOf(err) != twirp.InvalidArgument || svc.count("SendMessage") != 1 {
		t.Fatalf("got %v after %d calls, want invalid_argument after 1", err, svc.count("SendMessage"))
	}
	if tw := err.(twirp.Error); tw.Meta("argument") != "body" {
		t.Errorf("the server's error lost its metadata: %v", tw.MetaMap())
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	svc := &scripted{fate: func(string, int) (time.Duration, error) {
		return 0, core.Errorf(core.Unavailable, "no leader")
	}}
	c := New([]string{startServer(t, svc).URL}, append(fast(time.Second), WithAttempts(3))...)
	_, err := c.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.Unavailable || svc.count("GetQueue") != 3 {
		t.Fatalf("got %v after %d calls, want unavailable after 3", err, svc.count("GetQueue"))
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("error %q does not say what happened", err)
	}
}

func TestContextEndsRetries(t *testing.T) {
	svc := &scripted{fate: func(string, int) (time.Duration, error) {
		return 0, core.Errorf(core.Unavailable, "no leader")
	}}
	// The pause before the retry is far longer than the caller waits.
	c := New([]string{startServer(t, svc).URL}, WithBackoff(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GetQueue(ctx, &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.DeadlineExceeded || svc.count("GetQueue") != 1 {
		t.Fatalf("got %v after %d calls, want deadline_exceeded after 1", err, svc.count("GetQueue"))
	}
	if !strings.Contains(err.Error(), "no leader") {
		t.Errorf("error %q does not say why it was retrying", err)
	}
}

func TestProxyErrors(t *testing.T) {
	// A proxy's 502 and 504 come after the request may have reached the
	// server; its 503 says it did not.
	for _, tc := range []struct {
		status      int
		send, purge int // calls each makes with 2 attempts
	}{
		{http.StatusBadGateway, 2, 1},
		{http.StatusGatewayTimeout, 2, 1},
		{http.StatusServiceUnavailable, 2, 2},
	} {
		var mu sync.Mutex
		hits := map[string]int{}
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			mu.Unlock()
			http.Error(w, "upstream trouble", tc.status)
		}))
		c := New([]string{proxy.URL}, append(fast(time.Second), WithAttempts(2))...)
		_, sendErr := c.SendMessage(context.Background(), &wharfv1.SendMessageRequest{Queue: "q", Body: "b"})
		_, purgeErr := c.PurgeQueue(context.Background(), &wharfv1.PurgeQueueRequest{Queue: "q"})
		proxy.Close()
		if hits["SendMessage"] != tc.send || hits["PurgeQueue"] != tc.purge {
			t.Errorf("%d: send tried %d times, purge %d; want %d and %d", tc.status, hits["SendMessage"], hits["PurgeQueue"], tc.send, tc.purge)
		}
		if codeOf(sendErr) != twirp.Unavailable || codeOf(purgeErr) != twirp.Unavailable {
			t.Errorf("%d: errors %v, %v", tc.status, sendErr, purgeErr)
		}
	}
}

func TestSplitEndpoints(t *testing.T) {
	for in, want := range map[string]string{
		"http://a:1":                "http://a:1",
		"http://a:1,b:2":            "http://a:1|b:2",
		" http://a:1 , , b:2 ,":     "http://a:1|b:2",
		"":                          "",
		"http://a:1,http://a:1/x,c": "http://a:1|http://a:1/x|c",
	} {
		if got := strings.Join(SplitEndpoints(in), "|"); got != want {
			t.Errorf("SplitEndpoints(%q) = %q, want %q", in, got, want)
		}
	}
}

package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/node"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// This test runs a real node (dragonboat on 127.0.0.1) behind the real API
// handler, and loses the answer to a send that the node committed: the
// client must retry, and the queue must hold the message once.

// withholder serves the first request to one RPC in full, so the node
// commits it, then keeps the answer until the client gives up on the
// attempt, as a network that drops a response would. The answer it kept
// goes to kept.
type withholder struct {
	next   http.Handler
	rpc    string // "SendMessage"
	mu     sync.Mutex
	done   bool
	kept   chan *httptest.ResponseRecorder
	closed chan struct{}
}

func (h *withholder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/"+h.rpc) || !h.first() {
		h.next.ServeHTTP(w, r)
		return
	}
	// Detached from the request: the client leaving must not stop the
	// node from committing.
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	h.kept <- rec
	select {
	case <-r.Context().Done(): // the client's attempt timed out
	case <-h.closed:
	}
}

func (h *withholder) first() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := !h.done
	h.done = true
	return first
}

func startNode(t *testing.T) *node.Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Config{
		NodeID: 1, DataDir: t.TempDir(), RaftAddr: raftAddr, QueueShards: 1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestRetriedSendIsStoredOnce(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		rpc  string
		send func(c wharfv1.QueueService, queue string) ([]string, error) // message ids
		read func(body []byte) ([]string, error)                          // message ids in a kept answer
	}{
		{
			rpc: "SendMessage",
			send: func(c wharfv1.QueueService, queue string) ([]string, error) {
				resp, err := c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: queue, Body: "once"})
				return []string{resp.GetMessageId()}, err
			},
			read: func(body []byte) ([]string, error) {
				resp := &wharfv1.SendMessageResponse{}
				err := proto.Unmarshal(body, resp)
				return []string{resp.GetMessageId()}, err
			},
		},
		{
			rpc: "SendMessageBatch",
			send: func(c wharfv1.QueueService, queue string) ([]string, error) {
				resp, err := c.SendMessageBatch(ctx, &wharfv1.SendMessageBatchRequest{Queue: queue, Entries: []*wharfv1.SendMessageBatchRequestEntry{
					{Id: "a", Body: "once"}, {Id: "b", Body: "also once"},
				}})
				return batchIDs(resp), err
			},
			read: func(body []byte) ([]string, error) {
				resp := &wharfv1.SendMessageBatchResponse{}
				err := proto.Unmarshal(body, resp)
				return batchIDs(resp), err
			},
		},
	} {
		t.Run(tc.rpc, func(t *testing.T) {
			queue := "retried-" + strings.ToLower(tc.rpc)
			if _, err := n.CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: queue}); err != nil {
				t.Fatal(err)
			}
			h := &withholder{
				next: twirpapi.NewHandler(n, n.Ready, nil), rpc: tc.rpc,
				kept: make(chan *httptest.ResponseRecorder, 1), closed: make(chan struct{}),
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer close(h.closed) // runs first: frees a withheld handler so Close can return
			c := client.New([]string{srv.URL},
				client.WithAttemptTimeout(time.Second), client.WithBackoff(10*time.Millisecond, 100*time.Millisecond))

			got, err := tc.send(c, queue)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			var kept *httptest.ResponseRecorder
			select {
			case kept = <-h.kept:
			default:
				t.Fatal("no attempt was withheld")
			}
			if kept.Code != http.StatusOK {
				t.Fatalf("the withheld attempt failed on the node: %d %s", kept.Code, kept.Body)
			}
			first, err := tc.read(kept.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(first, ",") {
				t.Errorf("the retry answered message ids %v, the lost first attempt %v", got, first)
			}

			counts := receiveAll(t, ctx, c, queue)
			want := map[string]int{"once": 1}
			if tc.rpc == "SendMessageBatch" {
				want["also once"] = 1
			}
			if len(counts) != len(want) || counts["once"] != 1 || counts["also once"] != want["also once"] {
				t.Errorf("the queue holds %v, want %v", counts, want)
			}
		})
	}
}

func TestRequestIDIsValidated(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := httptest.NewServer(twirpapi.NewHandler(n, n.Ready, nil))
	defer srv.Close()
	c := client.New([]string{srv.URL})
	if _, err := c.CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: "q", Body: "b", RequestId: "has space"})
	if arg := argumentOf(err); arg != "request_id" {
		t.Errorf("send: got %v (argument %q), want invalid request_id", err, arg)
	}
	// In a batch, the bad entry fails alone.
	resp, err := c.SendMessageBatch(ctx, &wharfv1.SendMessageBatchRequest{Queue: "q", Entries: []*wharfv1.SendMessageBatchRequestEntry{
		{Id: "a", Body: "b"}, {Id: "b", Body: "b", RequestId: strings.Repeat("x", 129)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	failed := resp.GetFailed()
	if len(resp.GetSuccessful()) != 1 || len(failed) != 1 || failed[0].GetCode() != "invalid_argument" ||
		!strings.Contains(failed[0].GetMessage(), "entries[1].request_id") {
		t.Errorf("batch: got %v, want entry b to fail on entries[1].request_id", resp)
	}
}

// argumentOf is the field an invalid_argument error names.
func argumentOf(err error) string {
	var tw twirp.Error
	if errors.As(err, &tw) && tw.Code() == twirp.InvalidArgument {
		return tw.Meta("argument")
	}
	return ""
}

func batchIDs(resp *wharfv1.SendMessageBatchResponse) []string {
	var ids []string
	for _, e := range resp.GetSuccessful() {
		ids = append(ids, e.GetId()+"="+e.GetMessageId())
	}
	for _, e := range resp.GetFailed() {
		ids = append(ids, e.GetId()+" failed: "+e.GetMessage())
	}
	return ids
}

// receiveAll receives every message in the queue (leasing them for a
// minute, so none comes back) and counts them by body.
func receiveAll(t *testing.T, ctx context.Context, c wharfv1.QueueService, queue string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	wait, visibility := int32(0), int32(60)
	for {
		resp, err := c.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{
			Queue: queue, MaxMessages: 10, WaitTimeSeconds: &wait, VisibilityTimeoutSeconds: &visibility,
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(resp.GetMessages()) == 0 {
			return counts
		}
		for _, m := range resp.GetMessages() {
			counts[m.GetBody()]++
		}
	}
}

package client

import (
	"context"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/limits"
)

// A node's limit refuses a request before doing anything and says when to
// retry: even a receive (not safe to repeat otherwise) is retried, after
// the hint rather than the (shorter) backoff.
func TestRetriesAfterTheHintOfALimit(t *testing.T) {
	svc := &scripted{fate: failFirst("ReceiveMessage", 0, limits.NewError(300*time.Millisecond, "too many long polls"))}
	srv := startServer(t, svc)
	c := New([]string{srv.URL}, fast(5*time.Second)...)
	start := time.Now()
	if _, err := c.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "q"}); err != nil {
		t.Fatalf("receive: %v", err)
	}
	if got := svc.count("ReceiveMessage"); got != 2 {
		t.Fatalf("%d attempts, want 2", got)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("retried after %v, before the 300 ms hint", took)
	}
}

// A queue's own resource_exhausted (messages in flight) carries no hint:
// it is final.
func TestQueueLimitIsFinal(t *testing.T) {
	svc := &scripted{fate: failFirst("ReceiveMessage", 0, core.Errorf(core.ResourceExhausted, "queue has 120000 messages in flight"))}
	srv := startServer(t, svc)
	c := New([]string{srv.URL}, fast(5*time.Second)...)
	_, err := c.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "q"})
	if codeOf(err) != twirp.ResourceExhausted || svc.count("ReceiveMessage") != 1 {
		t.Fatalf("got %v after %d attempts, want resource_exhausted after 1", err, svc.count("ReceiveMessage"))
	}
}

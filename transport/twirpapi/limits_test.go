package twirpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/limits"
)

// A refusal for lack of a resource carries its retry hint to the client:
// the Retry-After header and the retry_after_ms meta.
func TestResourceExhaustedCarriesRetryHint(t *testing.T) {
	srv, _ := newServer(t, &fakeService{err: limits.NewError(1500*time.Millisecond, "too many long polls")}, nil)
	resp, err := http.Post(srv.URL+"/twirp/wharf.v1.QueueService/GetQueue", "application/json", strings.NewReader(`{"queue":"q"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("status %d, Retry-After %q; want 429 and 2 (seconds, rounded up)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_, err = wharfv1.NewQueueServiceJSONClient(srv.URL, srv.Client()).GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	var tw twirp.Error
	if !errors.As(err, &tw) || tw.Code() != twirp.ResourceExhausted || tw.Meta(limits.RetryAfterMeta) != "1500" {
		t.Fatalf("got %v (meta %v), want resource_exhausted with retry_after_ms 1500", err, tw.MetaMap())
	}
}

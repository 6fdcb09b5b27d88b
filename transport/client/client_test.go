package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

type fakeService struct {
	wharfv1.QueueService
	delay time.Duration
}

func (f *fakeService) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	if req.GetQueue() == "missing" {
		return nil, core.Errorf(core.NotFound, "queue %q does not exist", req.GetQueue())
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &wharfv1.GetQueueResponse{Queue: &wharfv1.Queue{Name: req.GetQueue(), VisibilityTimeoutSeconds: 30}}, nil
}

func startServer(t *testing.T, svc wharfv1.QueueService) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(twirpapi.NewHandler(svc, nil, nil))
	t.Cleanup(srv.Close)
	return srv
}

func codeOf(err error) twirp.ErrorCode {
	var tw twirp.Error
	if errors.As(err, &tw) {
		return tw.Code()
	}
	return "not a twirp error"
}

func TestRoundTrip(t *testing.T) {
	srv := startServer(t, &fakeService{})
	// Without a scheme, as a user would type it.
	c := New([]string{strings.TrimPrefix(srv.URL, "http://")})

	resp, err := c.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetQueue().GetName() != "orders" || resp.GetQueue().GetVisibilityTimeoutSeconds() != 30 {
		t.Errorf("got %v", resp)
	}

	_, err = c.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "missing"})
	if codeOf(err) != twirp.NotFound {
		t.Errorf("got %v, want not_found", err)
	}
}

func TestUsesFirstEndpoint(t *testing.T) {
	srv := startServer(t, &fakeService{})
	c := New([]string{srv.URL, "http://127.0.0.1:1"})
	if _, err := c.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"}); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = New([]string{addr}).GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.Unavailable {
		t.Errorf("got %v, want unavailable", err)
	}
}

func TestTimeoutIsDeadlineExceeded(t *testing.T) {
	srv := startServer(t, &fakeService{delay: time.Minute})
	c := New([]string{srv.URL}, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := c.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.DeadlineExceeded {
		t.Errorf("got %v, want deadline_exceeded", err)
	}
}

func TestCanceledContext(t *testing.T) {
	srv := startServer(t, &fakeService{delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := New([]string{srv.URL}).GetQueue(ctx, &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.Canceled {
		t.Errorf("got %v, want canceled", err)
	}
}

func TestNoEndpoints(t *testing.T) {
	_, err := New(nil).GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
	if codeOf(err) != twirp.Internal || !strings.Contains(err.Error(), "no endpoints") {
		t.Errorf("got %v, want internal about no endpoints", err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7070":          "http://127.0.0.1:7070",
		"localhost:7070":          "http://localhost:7070",
		"http://10.0.0.1:7070/":   "http://10.0.0.1:7070",
		" https://wharf.example ": "https://wharf.example",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndpointFromEnv(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	if got := EndpointFromEnv(); got != DefaultEndpoint {
		t.Errorf("unset: got %q, want %q", got, DefaultEndpoint)
	}
	t.Setenv(EnvEndpoint, "http://10.1.2.3:7070")
	if got := EndpointFromEnv(); got != "http://10.1.2.3:7070" {
		t.Errorf("set: got %q", got)
	}
	t.Setenv(EnvEndpoint, "http://10.1.2.3:7070, http://10.1.2.4:7070")
	if got := SplitEndpoints(EndpointFromEnv()); len(got) != 2 || got[1] != "http://10.1.2.4:7070" {
		t.Errorf("a list: got %q", got)
	}
}

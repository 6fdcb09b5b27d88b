package twirpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func newServer(t *testing.T, svc wharfv1.QueueService, ready func() bool) (*httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	srv := httptest.NewServer(NewHandler(svc, ready, logger))
	t.Cleanup(srv.Close)
	return srv, logs
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     twirp.ErrorCode
		msg      string
		argument string
		logged   bool
	}{
		{"invalid argument", core.FieldError("visibility_timeout_seconds", "must be at most 43200"),
			twirp.InvalidArgument, "visibility_timeout_seconds: must be at most 43200", "visibility_timeout_seconds", false},
		{"invalid argument without field", core.Errorf(core.InvalidArgument, "bad request"),
			twirp.InvalidArgument, "bad request", "", false},
		{"not found", core.Errorf(core.NotFound, "queue %q does not exist", "q"),
			twirp.NotFound, `queue "q" does not exist`, "", false},
		{"already exists", core.Errorf(core.AlreadyExists, "exists"), twirp.AlreadyExists, "exists", "", false},
		{"failed precondition", core.Errorf(core.FailedPrecondition, "fifo only"), twirp.FailedPrecondition, "fifo only", "", false},
		{"resource exhausted", core.Errorf(core.ResourceExhausted, "too many in flight"), twirp.ResourceExhausted, "too many in flight", "", false},
		{"unavailable", core.Errorf(core.Unavailable, "no leader"), twirp.Unavailable, "no leader", "", false},
		{"deadline exceeded", core.Errorf(core.DeadlineExceeded, "timed out"), twirp.DeadlineExceeded, "timed out", "", false},
		{"core internal", core.Errorf(core.Internal, "disk on fire"), twirp.Internal, "disk on fire", "", true},
		{"unknown core code", &core.Error{Code: core.Code(99), Msg: "odd"}, twirp.Internal, "odd", "", true},
		{"wrapped core error", fmt.Errorf("propose: %w", core.Errorf(core.NotFound, "gone")), twirp.NotFound, "gone", "", false},
		{"plain error", errors.New("secret detail"), twirp.Internal, "internal error", "", true},
		{"context canceled", fmt.Errorf("wait: %w", context.Canceled), twirp.Canceled, "request canceled", "", false},
		{"twirp error passes through", twirp.NewError(twirp.Unimplemented, "later"), twirp.Unimplemented, "later", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, logs := newServer(t, &fakeService{err: tc.err}, nil)
			for _, c := range []struct {
				name   string
				client wharfv1.QueueService
			}{
				{"protobuf", wharfv1.NewQueueServiceProtobufClient(srv.URL, srv.Client())},
				{"json", wharfv1.NewQueueServiceJSONClient(srv.URL, srv.Client())},
			} {
				_, err := c.client.GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "q"})
				var tw twirp.Error
				if !errors.As(err, &tw) {
					t.Fatalf("%s: got %v, want a twirp error", c.name, err)
				}
				if tw.Code() != tc.code || tw.Msg() != tc.msg || tw.Meta("argument") != tc.argument {
					t.Errorf("%s: got code=%q msg=%q argument=%q, want %q %q %q", c.name,
						tw.Code(), tw.Msg(), tw.Meta("argument"), tc.code, tc.msg, tc.argument)
				}
			}
			if got := strings.Contains(logs.String(), "internal error"); got != tc.logged {
				t.Errorf("logged = %v, want %v; logs:\n%s", got, tc.logged, logs)
			}
			if tc.name == "plain error" && !strings.Contains(logs.String(), "secret detail") {
				t.Errorf("log lacks the original error:\n%s", logs)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	srv, _ := newServer(t, &fakeService{}, func() bool { return false })
	status, body := get(t, srv.URL+"/healthz")
	if status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", status, body)
	}
}

func TestReadyz(t *testing.T) {
	var ready atomic.Bool
	srv, _ := newServer(t, &fakeService{}, ready.Load)
	if status, _ := get(t, srv.URL+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("not ready: GET /readyz = %d, want 503", status)
	}
	ready.Store(true)
	if status, _ := get(t, srv.URL+"/readyz"); status != http.StatusOK {
		t.Errorf("ready: GET /readyz = %d, want 200", status)
	}
}

func TestReadyzPanicIsNotReady(t *testing.T) {
	srv, logs := newServer(t, &fakeService{}, func() bool { panic("not built yet") })
	if status, _ := get(t, srv.URL+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d, want 503", status)
	}
	if !strings.Contains(logs.String(), "not built yet") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestJSONUsesProtoNamesAndEmitsDefaults(t *testing.T) {
	srv, _ := newServer(t, &fakeService{}, nil)
	resp := post(t, srv.URL+"/twirp/wharf.v1.QueueService/SendMessage", "application/json",
		strings.NewReader(`{"queue":"q","body":"hello"}`))
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(resp.body), &got); err != nil {
		t.Fatalf("decode %q: %v", resp.body, err)
	}
	want := map[string]any{"message_id": "m-1", "md5_of_body": "md5-of-hell", "sequence_number": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (body %s)", k, got[k], v, resp.body)
		}
	}

	// Zero values are present, so clients see the whole shape.
	resp = post(t, srv.URL+"/twirp/wharf.v1.QueueService/GetQueue", "application/json",
		strings.NewReader(`{"queue":"q"}`))
	var queue struct {
		Queue map[string]any `json:"queue"`
	}
	if err := json.Unmarshal([]byte(resp.body), &queue); err != nil {
		t.Fatalf("decode %q: %v", resp.body, err)
	}
	for _, field := range []string{"fifo", "visibility_timeout_seconds", "redrive_policy", "approximate_number_of_messages"} {
		if _, ok := queue.Queue[field]; !ok {
			t.Errorf("GetQueue JSON lacks %s: %s", field, resp.body)
		}
	}
}

func TestOversizedBodyRejected(t *testing.T) {
	srv, _ := newServer(t, &fakeService{}, nil)
	big := bytes.Repeat([]byte("a"), maxRequestBytes+1)
	url := srv.URL + "/twirp/wharf.v1.QueueService/SendMessage"

	t.Run("content-length", func(t *testing.T) {
		assertTooLarge(t, post(t, url, "application/protobuf", bytes.NewReader(big)))
	})
	t.Run("chunked", func(t *testing.T) {
		// io.MultiReader hides the length, so the client sends chunks.
		assertTooLarge(t, post(t, url, "application/protobuf", io.MultiReader(bytes.NewReader(big))))
	})
	t.Run("chunked within limit", func(t *testing.T) {
		req := &wharfv1.SendMessageRequest{Queue: "q", Body: strings.Repeat("b", 2*core.MiB)}
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		resp := post(t, url, "application/json", io.MultiReader(bytes.NewReader(body)))
		if resp.status != http.StatusOK || !strings.Contains(resp.body, "md5-of-bbbb") {
			t.Errorf("got %d %s, want 200 from the service", resp.status, resp.body)
		}
	})
}

func assertTooLarge(t *testing.T, resp response) {
	t.Helper()
	if resp.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.status)
	}
	var tw struct{ Code, Msg string }
	if err := json.Unmarshal([]byte(resp.body), &tw); err != nil {
		t.Fatalf("decode %q: %v", resp.body, err)
	}
	if tw.Code != "invalid_argument" || !strings.Contains(tw.Msg, "request body too large") {
		t.Errorf("got %+v, want invalid_argument about the body size", tw)
	}
}

func TestPanicBecomesInternalAndServerKeepsServing(t *testing.T) {
	srv, logs := newServer(t, &fakeService{}, nil)
	client := wharfv1.NewQueueServiceProtobufClient(srv.URL, srv.Client())

	_, err := client.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "q"})
	var tw twirp.Error
	if !errors.As(err, &tw) || tw.Code() != twirp.Internal || tw.Msg() != "internal error" {
		t.Fatalf("got %v, want twirp internal \"internal error\"", err)
	}
	if l := logs.String(); !strings.Contains(l, "panic in handler") || !strings.Contains(l, "boom") ||
		!strings.Contains(l, "method=ReceiveMessage") {
		t.Errorf("panic not logged with method and value:\n%s", l)
	}

	if _, err := client.SendMessage(context.Background(), &wharfv1.SendMessageRequest{Queue: "q", Body: "x"}); err != nil {
		t.Errorf("after panic: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	srv, _ := newServer(t, &fakeService{}, nil)
	if status, _ := get(t, srv.URL+"/nope"); status != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", status)
	}
	// Twirp answers non-POST requests on its prefix with a Twirp error.
	status, body := get(t, srv.URL+"/twirp/wharf.v1.QueueService/GetQueue")
	if status != http.StatusNotFound || !strings.Contains(body, "bad_route") {
		t.Errorf("GET on an RPC = %d %s, want 404 bad_route", status, body)
	}
	if resp := post(t, srv.URL+"/healthz", "text/plain", strings.NewReader("")); resp.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.status)
	}
}

type response struct {
	status int
	body   string
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, contentType string, body io.Reader) response {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(b)}
}

package apiauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// directory is a Source whose content a test changes.
type directory struct {
	mu  sync.Mutex
	dir *auth.Directory
	err error
}

func (d *directory) AuthDirectory(context.Context) (*auth.Directory, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dir, d.err
}

func (d *directory) set(dir *auth.Directory) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dir = dir
}

// server serves the three public services over fakes behind Handler, as
// wharfd wires them.
func server(t *testing.T, src Source) (*httptest.Server, *fakeServices) {
	t.Helper()
	fake := &fakeServices{}
	mux := http.NewServeMux()
	mux.Handle("/", twirpapi.NewHandler(Queues(fake), nil, nil))
	mux.Handle(wharfv1.ClusterServicePathPrefix, twirpapi.NewClusterHandler(Cluster(fake), nil))
	mux.Handle(wharfv1.AdminServicePathPrefix, twirpapi.NewAdminHandler(Admin(fake), nil))
	srv := httptest.NewServer(Handler(mux, src, Options{MaxBodyBytes: twirpapi.MaxRequestBytes}))
	t.Cleanup(srv.Close)
	return srv, fake
}

// twirpError is a Twirp error response.
type twirpError struct {
	Code string            `json:"code"`
	Msg  string            `json:"msg"`
	Meta map[string]string `json:"meta"`
}

// call POSTs a JSON request to "Service/Method" naming queue, through hc,
// and returns the Twirp error code ("" on success) and message.
func call(t *testing.T, hc sigv4.Doer, base, rpc, queue string) twirpError {
	t.Helper()
	field := "queue"
	if rpc == "QueueService/CreateQueue" {
		field = "name"
	}
	body, _ := json.Marshal(map[string]string{field: queue})
	if !strings.HasPrefix(rpc, "QueueService/") {
		body = []byte("{}")
	}
	req, err := http.NewRequest(http.MethodPost, base+"/twirp/wharf.v1."+rpc, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", rpc, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return twirpError{}
	}
	var e twirpError
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("%s: status %d, body %q", rpc, resp.StatusCode, out)
	}
	return e
}

func signer(creds sigv4.Credentials) *sigv4.Signer {
	return &sigv4.Signer{Next: http.DefaultClient, Credentials: creds}
}

// keyFor makes a principal with one key and the permissions.
func keyFor(name string, perms ...auth.Permission) (*auth.Principal, auth.Key) {
	p := &auth.Principal{Name: name, Permissions: perms}
	return p, auth.Key{ID: "WKID" + strings.ToUpper(name) + "0000000000", Principal: name, Secret: "secret-of-" + name}
}

func credsOf(k auth.Key) sigv4.Credentials {
	return sigv4.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
}

// Every RPC, for a principal granted each action in turn (on "orders-*",
// cluster_admin on "*"), runs exactly when the RPC needs that action and
// the queue matches; otherwise permission_denied names the action and the
// queue.
func TestPermissionMatrix(t *testing.T) {
	src := &directory{}
	srv, fake := server(t, src)
	for _, granted := range auth.AllActions {
		pattern := "orders-*"
		if granted == auth.ClusterAdmin {
			pattern = auth.AnyQueue
		}
		p, key := keyFor("p", auth.Permission{Action: granted, Pattern: pattern})
		_, other := keyFor("other", auth.Permission{Action: auth.ClusterAdmin, Pattern: "*"})
		src.set(auth.NewDirectory([]*auth.Principal{p, {Name: "other"}}, []auth.Key{key, other}))
		hc := signer(credsOf(key))
		for rpc, needs := range auth.RPCActions {
			for _, queue := range []string{"orders-1", "payments"} {
				got := call(t, hc, srv.URL, rpc, queue)
				clusterWide := !strings.HasPrefix(rpc, "QueueService/") || rpc == "QueueService/ListQueues"
				want := needs == granted && (queue == "orders-1" || clusterWide)
				if want {
					if got.Code != "" {
						t.Errorf("granted %s on %s: %s on %s refused: %s %s", granted, pattern, rpc, queue, got.Code, got.Msg)
					} else if last := fake.last(); last != rpc+" by p" {
						t.Errorf("granted %s: %s ran as %q", granted, rpc, last)
					}
					continue
				}
				if got.Code != "permission_denied" {
					t.Errorf("granted %s on %s: %s on %s: got %q %s, want permission_denied", granted, pattern, rpc, queue, got.Code, got.Msg)
					continue
				}
				if !strings.Contains(got.Msg, string(needs)) || got.Meta["action"] != string(needs) {
					t.Errorf("%s refusal does not name the action %s: %s %v", rpc, needs, got.Msg, got.Meta)
				}
				if !clusterWide && (!strings.Contains(got.Msg, queue) || got.Meta["queue"] != queue) {
					t.Errorf("%s refusal does not name the queue %s: %s %v", rpc, queue, got.Msg, got.Meta)
				}
			}
		}
	}
}

// ListQueues lists only what get_queue is held on.
func TestListQueuesFiltered(t *testing.T) {
	p, key := keyFor("p", auth.Permission{Action: auth.GetQueue, Pattern: "orders-*"})
	src := &directory{dir: auth.NewDirectory([]*auth.Principal{p}, []auth.Key{key})}
	srv, _ := server(t, src)
	c := wharfv1.NewQueueServiceJSONClient(srv.URL, signer(credsOf(key)))
	resp, err := c.ListQueues(context.Background(), &wharfv1.ListQueuesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.GetQueues(), []string{"orders-1", "orders-2"}) || resp.GetNextToken() != "next" {
		t.Fatalf("listed %v %q; want orders-1, orders-2 and the next token", resp.GetQueues(), resp.GetNextToken())
	}
}

// The example of the brief: send on orders-* sends to orders-1, cannot
// receive from it, cannot send to payments. Over protobuf, as the Go
// client speaks.
func TestSendOnlyPrincipal(t *testing.T) {
	p, key := keyFor("producer", auth.Permission{Action: auth.Send, Pattern: "orders-*"})
	src := &directory{dir: auth.NewDirectory([]*auth.Principal{p}, []auth.Key{key})}
	srv, fake := server(t, src)
	c := wharfv1.NewQueueServiceProtobufClient(srv.URL, signer(credsOf(key)))
	ctx := context.Background()
	if _, err := c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: "orders-1", Body: "x"}); err != nil {
		t.Fatalf("send to orders-1: %v", err)
	}
	if got := fake.last(); got != "QueueService/SendMessage by producer" {
		t.Fatalf("the service saw %q", got)
	}
	_, err := c.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: "orders-1"})
	wantTwirp(t, err, "permission_denied", `lacks receive on queue "orders-1"`)
	_, err = c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: "payments", Body: "x"})
	wantTwirp(t, err, "permission_denied", `lacks send on queue "payments"`)
	_, err = wharfv1.NewAdminServiceProtobufClient(srv.URL, signer(credsOf(key))).CreatePrincipal(ctx, &wharfv1.CreatePrincipalRequest{Name: "me"})
	wantTwirp(t, err, "permission_denied", "lacks cluster_admin")
}

func wantTwirp(t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := twirpCode(err); got != code || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %v (code %s), want %s with %q", err, got, code, msg)
	}
}

func twirpCode(err error) string {
	var tw twirp.Error
	if errors.As(err, &tw) {
		return string(tw.Code())
	}
	return ""
}

// tamper changes the body after signing, on the way out.
type tamper struct{ next http.RoundTripper }

func (t tamper) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	b = bytes.Replace(b, []byte("orders-1"), []byte("orders-2"), 1)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	return t.next.RoundTrip(req)
}

// Every way a signature can be wrong is refused with unauthenticated,
// saying which, before the service runs.
func TestRefusedSignatures(t *testing.T) {
	p, key := keyFor("p", auth.Permission{Action: auth.Send, Pattern: "*"})
	_, revoked := keyFor("old")
	revoked.Principal, revoked.Revoked, revoked.Secret = "p", true, ""
	_, broken := keyFor("broken")
	broken.Principal, broken.Err, broken.Secret = "p", auth.ErrCannotOpen, ""
	src := &directory{dir: auth.NewDirectory([]*auth.Principal{p}, []auth.Key{key, revoked, broken})}
	srv, fake := server(t, src)
	now := time.Now()
	at := func(d time.Duration) func() time.Time { return func() time.Time { return now.Add(d) } }

	for name, tc := range map[string]struct {
		hc   sigv4.Doer
		want string
	}{
		"missing signature": {http.DefaultClient, "missing signature"},
		"wrong secret":      {signer(sigv4.Credentials{AccessKeyID: key.ID, SecretAccessKey: "wrong"}), "signature does not match"},
		"unknown key":       {signer(sigv4.Credentials{AccessKeyID: "WKIDNOBODY000000", SecretAccessKey: "x"}), "unknown access key"},
		"revoked key":       {signer(sigv4.Credentials{AccessKeyID: revoked.ID, SecretAccessKey: "secret-of-old"}), "revoked"},
		"unopenable key":    {signer(sigv4.Credentials{AccessKeyID: broken.ID, SecretAccessKey: "secret-of-broken"}), "cannot open"},
		"expired":           {&sigv4.Signer{Credentials: credsOf(key), Now: at(-6 * time.Minute)}, "signature expired"},
		"skewed":            {&sigv4.Signer{Credentials: credsOf(key), Now: at(6 * time.Minute)}, "too skewed"},
		"tampered body":     {&http.Client{Transport: sigv4.Transport(&sigv4.Signer{Credentials: credsOf(key)}, tamper{http.DefaultTransport})}, "signature does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			before := fake.last()
			got := call(t, tc.hc, srv.URL, "QueueService/SendMessage", "orders-1")
			if got.Code != "unauthenticated" || !strings.Contains(got.Msg, tc.want) {
				t.Fatalf("got %q %q, want unauthenticated saying %q", got.Code, got.Msg, tc.want)
			}
			if fake.last() != before {
				t.Fatal("the service ran")
			}
		})
	}
	// The same key, signed right, goes through.
	if got := call(t, signer(credsOf(key)), srv.URL, "QueueService/SendMessage", "orders-1"); got.Code != "" {
		t.Fatalf("a good signature refused: %v", got)
	}
}

// With no principal the API is open (a signature is not even checked);
// health checks are never guarded; an unreadable directory is not taken
// for an empty one.
func TestOpenAndUnguarded(t *testing.T) {
	src := &directory{dir: auth.NewDirectory(nil, nil)}
	srv, fake := server(t, src)
	if got := call(t, http.DefaultClient, srv.URL, "AdminService/CreatePrincipal", ""); got.Code != "" {
		t.Fatalf("open API refused: %v", got)
	}
	if got := fake.last(); got != "AdminService/CreatePrincipal by " {
		t.Fatalf("the service saw %q, want no principal", got)
	}
	if got := call(t, signer(sigv4.Credentials{AccessKeyID: "WKIDANY0000000000", SecretAccessKey: "x"}), srv.URL, "QueueService/SendMessage", "q"); got.Code != "" {
		t.Fatalf("open API refused a signed request: %v", got)
	}

	p, key := keyFor("p")
	src.set(auth.NewDirectory([]*auth.Principal{p}, []auth.Key{key}))
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with authentication on: %v %v", resp, err)
	}
	resp.Body.Close()

	src.mu.Lock()
	src.dir, src.err = nil, core.Errorf(core.Unavailable, "no metadata leader")
	src.mu.Unlock()
	if got := call(t, http.DefaultClient, srv.URL, "QueueService/SendMessage", "q"); got.Code != "unavailable" {
		t.Fatalf("with the directory unreadable: got %v, want unavailable", got)
	}
}

// A service wrapped but reached without Handler refuses everything.
func TestWrappedServiceFailsClosed(t *testing.T) {
	_, err := Queues(&fakeServices{}).SendMessage(context.Background(), &wharfv1.SendMessageRequest{Queue: "q"})
	wantTwirp(t, err, "unauthenticated", "did not go through authentication")
}

// A redrive policy sends messages to its dead-letter queue, so setting one
// needs send on that queue: an owner of "orders-*" may point a queue at
// "orders-dead" but not at "payments".
func TestRedrivePolicyNeedsSendOnTheDeadLetterQueue(t *testing.T) {
	p, key := keyFor("owner",
		auth.Permission{Action: auth.CreateQueue, Pattern: "orders-*"},
		auth.Permission{Action: auth.UpdateQueue, Pattern: "orders-*"},
		auth.Permission{Action: auth.Send, Pattern: "orders-*"})
	src := &directory{dir: auth.NewDirectory([]*auth.Principal{p}, []auth.Key{key})}
	srv, _ := server(t, src)
	hc := signer(credsOf(key))
	post := func(rpc, body string) twirpError {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/twirp/wharf.v1.QueueService/"+rpc, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return twirpError{}
		}
		var e twirpError
		out, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(out, &e); err != nil {
			t.Fatalf("%s: status %d, body %q", rpc, resp.StatusCode, out)
		}
		return e
	}
	for _, tc := range []struct {
		rpc, body, code string
	}{
		{"CreateQueue", `{"name":"orders-1","redrive_policy":{"dead_letter_queue":"orders-dead","max_receive_count":3}}`, ""},
		{"CreateQueue", `{"name":"orders-2","redrive_policy":{"dead_letter_queue":"payments","max_receive_count":3}}`, "permission_denied"},
		{"UpdateQueue", `{"queue":"orders-1","redrive_policy":{"dead_letter_queue":"orders-dead","max_receive_count":3}}`, ""},
		{"UpdateQueue", `{"queue":"orders-1","redrive_policy":{"dead_letter_queue":"payments","max_receive_count":3}}`, "permission_denied"},
		{"UpdateQueue", `{"queue":"orders-1","redrive_policy":{"dead_letter_queue":""}}`, ""}, // removing the policy
	} {
		e := post(tc.rpc, tc.body)
		if e.Code != tc.code {
			t.Errorf("%s %s: code %q (%s), want %q", tc.rpc, tc.body, e.Code, e.Msg, tc.code)
		}
		if tc.code != "" && (e.Meta["queue"] != "payments" || e.Meta["action"] != "send") {
			t.Errorf("%s %s: meta %v, want send on payments", tc.rpc, tc.body, e.Meta)
		}
	}
}

package limits

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
)

// A connection past the cap is reset at once; closing an admitted one
// makes room again.
func TestListenerRefusesPastTheCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, 2, nil)
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	// dial connects; refused says whether the server reset the
	// connection without a word: at once (the dial fails) or at its first
	// read. A connection kept open reads nothing until the deadline.
	dial := func() (c net.Conn, refused bool) {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			return nil, true
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		return c, err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	for range 2 {
		if _, refused := dial(); refused {
			t.Fatal("a connection within the cap was refused")
		}
	}
	first, second := <-accepted, <-accepted
	if _, refused := dial(); !refused {
		t.Fatal("a third connection was kept open with a cap of 2")
	}
	if n := ln.(*Listener).Open(); n != 2 {
		t.Fatalf("open %d, want 2", n)
	}
	first.Close()
	first.Close() // twice: the slot is given back once
	if _, refused := dial(); refused {
		t.Fatal("the connection after a close was refused")
	}
	<-accepted
	if _, refused := dial(); !refused {
		t.Fatal("a connection past the cap was kept after a close")
	}
	second.Close()
	if NewListener(inner, 0, nil) != inner {
		t.Fatal("a cap of 0 wrapped the listener")
	}
}

func withPrincipal(name string) context.Context {
	return auth.WithPrincipal(context.Background(), name)
}

func TestLongPollCaps(t *testing.T) {
	lp, err := NewLongPolls(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	admit := func(ctx context.Context) func() {
		t.Helper()
		release, err := lp.Admit(ctx)
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return release
	}
	refusedWithHint := func(ctx context.Context) {
		t.Helper()
		_, err := lp.Admit(ctx)
		var le *Error
		if core.CodeOf(err) != core.ResourceExhausted || !errors.As(err, &le) || le.RetryAfter() <= 0 {
			t.Fatalf("got %v, want resource_exhausted with a retry hint", err)
		}
	}
	a1 := admit(withPrincipal("alice"))
	admit(withPrincipal("alice"))
	refusedWithHint(withPrincipal("alice")) // her cap
	// Unauthenticated clients are counted by address.
	addr := withClientAddr(context.Background(), "10.0.0.9")
	b1 := admit(addr)
	refusedWithHint(withPrincipal("bob")) // the node's cap
	a1()
	a1() // released once only
	if lp.Waiting() != 2 {
		t.Fatalf("waiting %d, want 2", lp.Waiting())
	}
	admit(withClientAddr(context.Background(), "10.0.0.9"))
	refusedWithHint(addr) // 10.0.0.9 has 2
	b1()
	if _, err := NewLongPolls(-1, 0); err == nil {
		t.Fatal("a negative cap was accepted")
	}
	// No caps: everything is admitted.
	free, _ := NewLongPolls(0, 0)
	for range 100 {
		if _, err := free.Admit(withPrincipal("x")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	rl, err := NewRateLimiter(10, 5)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	rl.now = func() time.Time { return now }
	for i := range 5 {
		if err := rl.Allow("alice"); err != nil {
			t.Fatalf("request %d of the burst refused: %v", i, err)
		}
	}
	err1 := rl.Allow("alice")
	if err1 == nil || core.CodeOf(err1) != core.ResourceExhausted {
		t.Fatalf("request past the burst: %v", err1)
	}
	if d := err1.RetryAfter(); d != 100*time.Millisecond {
		t.Fatalf("retry after %v, want the 100 ms a token takes at 10/s", d)
	}
	if err := rl.Allow("bob"); err != nil {
		t.Fatalf("another principal was limited: %v", err)
	}
	now = now.Add(100 * time.Millisecond)
	if err := rl.Allow("alice"); err != nil {
		t.Fatalf("a token refilled: %v", err)
	}
	// Idle buckets are forgotten once full again (5 tokens at 10/s).
	now = now.Add(time.Second)
	rl.Allow("carol")
	if n := rl.Len(); n != 1 {
		t.Fatalf("%d buckets remembered, want only carol's", n)
	}
	if rl, err := NewRateLimiter(0, 0); rl != nil || err != nil {
		t.Fatalf("rate 0: %v, %v; want no limiter", rl, err)
	}
	if _, err := NewRateLimiter(-1, 0); err == nil {
		t.Fatal("a negative rate was accepted")
	}
	if rl, _ := NewRateLimiter(0.5, 0); rl.burst != 1 {
		t.Fatalf("burst %v for a rate of 0.5, want 1", rl.burst)
	}
}

// Over the rate, the middleware answers Twirp resource_exhausted with the
// retry hint in the Retry-After header and the retry_after_ms meta; the
// health probes pass; the client's address reaches the handler.
func TestMiddleware(t *testing.T) {
	rl, _ := NewRateLimiter(1, 2)
	var key string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key = ClientKey(r.Context())
		w.WriteHeader(http.StatusOK)
	}), rl)
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	const method = "/twirp/wharf.v1.QueueService/SendMessage"
	for range 2 {
		if resp := post(method); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d within the burst", resp.StatusCode)
		}
	}
	if key != "addr:127.0.0.1" {
		t.Fatalf("client key %q", key)
	}
	resp := post(method)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d past the rate, want 429", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q", ra)
	}
	body, _ := io.ReadAll(resp.Body)
	var tw struct {
		Code string            `json:"code"`
		Msg  string            `json:"msg"`
		Meta map[string]string `json:"meta"`
	}
	if err := json.Unmarshal(body, &tw); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	ms, err := strconv.Atoi(tw.Meta[RetryAfterMeta])
	if tw.Code != "resource_exhausted" || err != nil || ms <= 0 || ms > 1000 {
		t.Fatalf("error %+v", tw)
	}
	for _, p := range []string{"/healthz", "/readyz", "/twirp/wharf.node.v1.NodeService/Read"} {
		if resp := post(p); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d; it must not be rate limited", p, resp.StatusCode)
		}
	}
}

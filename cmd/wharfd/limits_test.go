package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/transport/limits"
)

func TestBadLimitFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--max-connections", "-1"},
		{"--max-long-polls", "-5"},
		{"--max-long-polls-per-principal", "-1"},
		{"--rate-limit", "-2"},
		{"--rate-burst", "-1"},
	} {
		stderr := &syncBuffer{}
		if code := run(context.Background(), args, stderr, mustNotStart(t)); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("%v: the error does not name the flag:\n%s", args, stderr)
		}
	}
}

// wharfd puts the limits around the API: the node gets the long-poll gate,
// a request over the rate gets resource_exhausted with a retry hint, and a
// connection past the cap is closed.
func TestLimitsAreWired(t *testing.T) {
	addrs := freeAddrs(t, 2)
	fake := &fakeNode{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1],
			"--max-connections", "2", "--rate-limit", "1", "--rate-burst", "1", "--max-long-polls", "7"}, &syncBuffer{}, fake.start)
	}()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + addrs[0]
	waitFor(t, base+"/readyz") // probes are never limited
	if lp, ok := fake.cfg.LongPolls.(*limits.LongPolls); !ok || lp == nil {
		t.Fatalf("node config LongPolls = %#v", fake.cfg.LongPolls)
	}

	// One connection, kept alive, for both requests.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	post := func() *http.Response {
		t.Helper()
		resp, err := client.Post(base+"/twirp/wharf.v1.QueueService/GetQueue", "application/json", strings.NewReader(`{"queue":"q"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	post() // the burst's token (the fake node answers whatever it answers)
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the rate: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// The client's connection is open (and perhaps waitFor's); one more
	// may fit, the next is reset (at the dial or at its first read).
	for range 2 {
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			return // reset at once
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			return // reset
		}
	}
	t.Fatal("two more connections were kept open with --max-connections 2")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core/node"
	"github.com/wharfmq/wharf/jepsen"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeNode stands in for *node.Node.
type fakeNode struct {
	wharfv1.QueueService
	wharfv1.ClusterService
	wharfv1.AdminService
	cfg    node.Config
	closed atomic.Bool
}

func (f *fakeNode) Ready() bool                     { return true }
func (f *fakeNode) NodeService() nodev1.NodeService { return nil }
func (f *fakeNode) Close() error                    { f.closed.Store(true); return nil }

func (f *fakeNode) start(ctx context.Context, cfg node.Config) (server, error) {
	f.cfg = cfg
	return f, nil
}

func mustNotStart(t *testing.T) startFunc {
	return func(context.Context, node.Config) (server, error) {
		t.Error("node started")
		return nil, errors.New("should not start")
	}
}

// syncBuffer is safe to write from run's goroutines while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddrs returns n distinct free addresses on 127.0.0.1, below the
// kernel's ephemeral range (jepsen.FreeAddrs): a node restarted on its
// addresses must find them free, and an ephemeral port may meanwhile be the
// local end of some connection.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := jepsen.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nope"},
		{"--log-level", "loud"},
		{"--log-format", "xml"},
		{"--node-id", "0"},
		{"--queue-shards", "0"},
		{"extra"},
		{"--initial-members", "1=127.0.0.1:7071,2"},
		{"--initial-members", "0=127.0.0.1:7071"},
		{"--initial-members", "2=127.0.0.1:9001,3=127.0.0.1:9002"}, // lacks node 1
		{"--initial-members", "1=127.0.0.1:9001"},                  // node 1's address is not --raft-addr
		{"--initial-members", "1=127.0.0.1:7071,2=127.0.0.1:7071"}, // address twice
		{"--initial-members", "1=127.0.0.1:7071", "--join", "127.0.0.1:8080"},
		{"--replication-factor", "6"},
		{"--queue-shards", "1000"},
		{"--test-clock-offset", "soon"},
		{"--raft-transport", "dragonboat"},                                 // removed: raftnet behind peerlink only
		{"--pprof-addr", "6060"},                                           // no host:port
		{"--pprof-addr", "127.0.0.1:7070", "--api-addr", "127.0.0.1:7070"}, // the API's address
		// The members list advertised Raft addresses: with a proxy in
		// front, --raft-addr is not one of them.
		{"--raft-addr", "127.0.0.1:9001", "--raft-advertise-addr", "127.0.0.1:9101", "--node-id", "1",
			"--initial-members", "1=127.0.0.1:9001,2=127.0.0.1:9002"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &stderr, mustNotStart(t)); code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "usage: wharfd") {
			t.Errorf("%q: no usage in stderr:\n%s", args, stderr.String())
		}
	}
}

func TestParseMembers(t *testing.T) {
	m, err := parseMembers("1=127.0.0.1:9001, 2=127.0.0.1:9002,3=127.0.0.1:9003")
	if err != nil || len(m) != 3 || m[2] != "127.0.0.1:9002" {
		t.Fatalf("got %v, %v", m, err)
	}
	if _, err := parseMembers("1=a:1,2=b:1,3=c:1,4=d:1,5=e:1,6=f:1,7=g:1,8=h:1"); err == nil {
		t.Fatal("8 members accepted")
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stderr, mustNotStart(t)); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "-data-dir") {
		t.Errorf("help lacks flags:\n%s", stderr.String())
	}
}

func TestDataDirCannotBeCreated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	addrs := freeAddrs(t, 2)
	code := run(context.Background(), []string{"--data-dir", filepath.Join(file, "data"),
		"--api-addr", addrs[0], "--raft-addr", addrs[1]}, &stderr, mustNotStart(t))
	if code != 1 || !strings.Contains(stderr.String(), "cannot create data directory") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	for _, tc := range []struct{ flag, want string }{
		{"--api-addr", "cannot listen on --api-addr"},
		{"--raft-addr", "cannot listen on --raft-addr"},
	} {
		addrs := freeAddrs(t, 2)
		args := []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1],
			tc.flag, taken.Addr().String()}
		var stderr bytes.Buffer
		code := run(context.Background(), args, &stderr, mustNotStart(t))
		if code != 1 || !strings.Contains(stderr.String(), tc.want) ||
			!strings.Contains(stderr.String(), "address already in use") {
			t.Errorf("%s taken: exit %d, stderr:\n%s", tc.flag, code, stderr.String())
		}
	}
}

func TestNodeStartFails(t *testing.T) {
	var stderr bytes.Buffer
	start := func(context.Context, node.Config) (server, error) { return nil, errors.New("disk full") }
	addrs := freeAddrs(t, 2)
	code := run(context.Background(), []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0],
		"--raft-addr", addrs[1]}, &stderr, start)
	if code != 1 || !strings.Contains(stderr.String(), "disk full") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestAdvertiseAndClockFlags: the node is told where others reach it (the
// advertised addresses) apart from where it listens, and a test-only clock
// offset shifts its clock; by default all three are as before.
func TestAdvertiseAndClockFlags(t *testing.T) {
	configOf := func(args ...string) node.Config {
		t.Helper()
		var got node.Config
		start := func(_ context.Context, cfg node.Config) (server, error) {
			got = cfg
			return nil, errors.New("recorded")
		}
		addrs := freeAddrs(t, 2)
		var stderr bytes.Buffer
		args = append([]string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1]}, args...)
		if code := run(context.Background(), args, &stderr, start); code != 1 {
			t.Fatalf("%q: exit %d, stderr:\n%s", args, code, stderr.String())
		}
		got.RaftListenAddr += "|" + addrs[1] // listen address, for the checks below
		return got
	}

	def := configOf()
	listen := strings.SplitN(def.RaftListenAddr, "|", 2)
	if listen[0] != "" || def.RaftAddr != listen[1] || def.Now != nil {
		t.Errorf("defaults: RaftAddr %q RaftListenAddr %q Now set %v", def.RaftAddr, listen[0], def.Now != nil)
	}
	if def.APIAddr == "" || strings.HasSuffix(def.APIAddr, ":0") {
		t.Errorf("default APIAddr %q, want the listen address", def.APIAddr)
	}

	cfg := configOf("--raft-advertise-addr", "127.0.0.1:9101", "--api-advertise-addr", "127.0.0.1:9100",
		"--node-id", "2", "--initial-members", "1=127.0.0.1:9201,2=127.0.0.1:9101", "--test-clock-offset", "-90s", "--insecure")
	listen = strings.SplitN(cfg.RaftListenAddr, "|", 2)
	if cfg.RaftAddr != "127.0.0.1:9101" || listen[0] != listen[1] || cfg.APIAddr != "127.0.0.1:9100" {
		t.Errorf("advertised: RaftAddr %q RaftListenAddr %q APIAddr %q", cfg.RaftAddr, listen[0], cfg.APIAddr)
	}
	if cfg.InitialMembers[2] != "127.0.0.1:9101" {
		t.Errorf("initial members %v", cfg.InitialMembers)
	}
	if cfg.Now == nil {
		t.Fatal("--test-clock-offset left Now unset")
	}
	if d := time.Until(cfg.Now()); d > -89*time.Second || d < -91*time.Second {
		t.Errorf("clock offset %v, want -90s", d)
	}
}

func TestPprofFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""}, // off by default
		{[]string{"--pprof-addr", "127.0.0.1:6060"}, "127.0.0.1:6060"},
		{[]string{"--pprof-addr=:6060"}, ":6060"},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		if err != nil || c.pprofAddr != tc.want {
			t.Errorf("%q: pprofAddr %q, err %v; want %q", tc.args, c.pprofAddr, err, tc.want)
		}
	}
}

func TestPprofServedOnItsOwnListener(t *testing.T) {
	addrs := freeAddrs(t, 3)
	apiAddr, raftAddr, pprofAddr := addrs[0], addrs[1], addrs[2]
	fake := &fakeNode{}
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--api-addr", apiAddr, "--raft-addr", raftAddr,
			"--pprof-addr", pprofAddr}, stderr, fake.start)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("run did not return after cancel")
		}
	}()
	waitFor(t, "http://"+apiAddr+"/readyz")
	waitFor(t, "http://"+pprofAddr+"/debug/pprof/cmdline")
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("pprof goroutine page: %d\n%.200s", resp.StatusCode, body)
	}
	// Not on the API address.
	resp, err = http.Get("http://" + apiAddr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("pprof served on the API address")
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	addrs := freeAddrs(t, 2)
	apiAddr, raftAddr := addrs[0], addrs[1]
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	fake := &fakeNode{}
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", dataDir, "--api-addr", apiAddr, "--raft-addr", raftAddr,
			"--node-id", "3", "--queue-shards", "2", "--log-format", "json"}, stderr, fake.start)
	}()

	waitFor(t, "http://"+apiAddr+"/readyz")
	if fake.cfg.NodeID != 3 || fake.cfg.QueueShards != 2 || fake.cfg.RaftAddr != raftAddr || fake.cfg.DataDir != dataDir {
		t.Errorf("node config = %+v", fake.cfg)
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Errorf("data dir not created: %v", err)
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"wharfd serving"`, `"api_addr":"` + apiAddr, `"raft_addr":"` + raftAddr, `"data_dir":"` + dataDir} {
		if !strings.Contains(logs, want) {
			t.Errorf("startup log lacks %s:\n%s", want, logs)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d; logs:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !fake.closed.Load() {
		t.Error("node not closed")
	}
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, slog.New(slog.DiscardHandler), 10*time.Second) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	cancel()

	// New connections are refused while the request drains.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}

	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want \"done\"", body)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestServeDrainDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // stuck until the server gives up on it
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, slog.New(slog.DiscardHandler), 100*time.Millisecond) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not give up after the drain deadline")
	}
}

// While the node starts, the API port already answers: unavailable (503)
// for the APIs and /readyz, so peers and clients fail over at once, 200
// for /healthz; once the node is up, the real handlers take over.
func TestAnswersUnavailableWhileStarting(t *testing.T) {
	addrs := freeAddrs(t, 2)
	fake := &fakeNode{}
	release := make(chan struct{})
	start := func(ctx context.Context, cfg node.Config) (server, error) {
		<-release
		return fake.start(ctx, cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1],
			"--node-id", "1"}, &syncBuffer{}, start)
	}()
	base := "http://" + addrs[0]
	waitFor(t, base+"/healthz")
	status := func(path, body string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if body == "" {
			resp, err = http.Get(base + path)
		} else {
			resp, err = http.Post(base+path, "application/json", strings.NewReader(body))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := status("/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while starting: %d, want 503", code)
	}
	for _, path := range []string{"/twirp/wharf.v1.QueueService/SendMessage", "/twirp/wharf.node.v1.NodeService/Propose"} {
		code, body := status(path, `{}`)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) {
			t.Errorf("%s while starting: %d %s, want 503 unavailable", path, code, body)
		}
	}
	close(release)
	waitFor(t, base+"/readyz")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

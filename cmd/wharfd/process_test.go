package main_test

// These tests run the real wharfd binary on 127.0.0.1 and talk to it over
// Twirp, as a user would.

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twitchtv/twirp"
	"github.com/wharfmq/wharf/jepsen"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var wharfdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharfd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wharfdBin = filepath.Join(dir, "wharfd")
	build := exec.Command("go", "build", "-o", wharfdBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build wharfd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one wharfd process.
type server struct {
	t        *testing.T
	dataDir  string
	apiAddr  string
	raftAddr string
	extra    []string
	cmd      *exec.Cmd
	log      *os.File
	client   wharfv1.QueueService
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

func newServer(t *testing.T, extra ...string) *server {
	t.Helper()
	addrs := freeAddrs(t, 2)
	return newServerAt(t, addrs[0], addrs[1], extra...)
}

// newServerAt starts wharfd on the given addresses and waits until it is ready.
func newServerAt(t *testing.T, apiAddr, raftAddr string, extra ...string) *server {
	t.Helper()
	s := launchAt(t, apiAddr, raftAddr, extra...)
	s.waitReady()
	return s
}

// launchAt starts wharfd on the given addresses without waiting for it to
// become ready: the nodes of a new cluster wait for each other.
func launchAt(t *testing.T, apiAddr, raftAddr string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), apiAddr: apiAddr, raftAddr: raftAddr, extra: extra}
	s.client = wharfv1.NewQueueServiceProtobufClient("http://"+s.apiAddr, &http.Client{Timeout: 30 * time.Second})
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
		if t.Failed() && s.log != nil {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("wharfd log (%s):\n%s", s.apiAddr, b)
		}
	})
	s.launch()
	return s
}

// start runs wharfd again (after a kill or stop) and waits until it is ready.
func (s *server) start() {
	s.t.Helper()
	s.launch()
	s.waitReady()
}

// launch runs the wharfd process.
func (s *server) launch() {
	s.t.Helper()
	var err error
	if s.log == nil {
		if s.log, err = os.CreateTemp(s.t.TempDir(), "wharfd-*.log"); err != nil {
			s.t.Fatal(err)
		}
	}
	args := append([]string{"--data-dir", s.dataDir, "--api-addr", s.apiAddr, "--raft-addr", s.raftAddr}, s.extra...)
	s.cmd = exec.Command(wharfdBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
}

// waitReady waits until /readyz answers 200.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.apiAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("wharfd on %s did not become ready within 60 s", s.apiAddr)
}

// kill9 kills the process without warning, as a crash would.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Wait()
	s.cmd = nil
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("wharfd exit after SIGTERM: %v", err)
	}
	s.cmd = nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func (s *server) createQueue(name string, fifo bool) {
	s.t.Helper()
	if _, err := s.client.CreateQueue(ctx(s.t), &wharfv1.CreateQueueRequest{Name: name, Fifo: fifo}); err != nil {
		s.t.Fatalf("create queue %s: %v", name, err)
	}
}

// sendN sends n messages and returns the acknowledged message ids by body.
func (s *server) sendN(queue string, n int, prefix string) map[string]string {
	s.t.Helper()
	acked := map[string]string{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("%s-%04d", prefix, i)
		resp, err := s.client.SendMessage(ctx(s.t), &wharfv1.SendMessageRequest{Queue: queue, Body: body})
		if err != nil {
			s.t.Fatalf("send %s: %v", body, err)
		}
		acked[body] = resp.MessageId
	}
	return acked
}

// drain receives and deletes until the queue is empty, returning how many
// times each body was received.
func (s *server) drain(queue string) map[string]int {
	s.t.Helper()
	seen := map[string]int{}
	for empty := 0; empty < 2; {
		resp, err := s.client.ReceiveMessage(ctx(s.t), &wharfv1.ReceiveMessageRequest{Queue: queue, MaxMessages: 10, WaitTimeSeconds: ptr(int32(0))})
		if err != nil {
			s.t.Fatalf("receive: %v", err)
		}
		if len(resp.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range resp.Messages {
			seen[m.Body]++
			if _, err := s.client.DeleteMessage(ctx(s.t), &wharfv1.DeleteMessageRequest{Queue: queue, ReceiptHandle: m.ReceiptHandle}); err != nil {
				s.t.Fatalf("delete: %v", err)
			}
		}
	}
	return seen
}

func ptr[T any](v T) *T { return &v }

func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	s := newServer(t)
	s.createQueue("orders", false)
	acked := s.sendN("orders", 300, "m")

	// Delete a third of them before the crash: they must never come back.
	deleted := map[string]bool{}
	for len(deleted) < 100 {
		resp, err := s.client.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "orders", MaxMessages: 10, VisibilityTimeoutSeconds: ptr(int32(1))})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			if _, err := s.client.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "orders", ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			deleted[m.Body] = true
		}
	}
	s.kill9()
	s.start()

	time.Sleep(1100 * time.Millisecond) // let any lease taken before the crash pass
	seen := s.drain("orders")
	for body := range acked {
		if !deleted[body] && seen[body] == 0 {
			t.Errorf("acknowledged message %s lost", body)
		}
		if deleted[body] && seen[body] > 0 {
			t.Errorf("deleted message %s came back", body)
		}
	}
	if got, want := len(seen), len(acked)-len(deleted); got != want {
		t.Errorf("received %d distinct messages after restart, want %d", got, want)
	}
}

func TestRestartAfterSnapshot(t *testing.T) {
	// Snapshots every 50 entries: the log is compacted under the data, and
	// a restart must rebuild the queues from the snapshot plus the log tail.
	s := newServer(t, "--snapshot-entries", "50")
	s.createQueue("snap", false)
	s.createQueue("snap.fifo", true)
	acked := s.sendN("snap", 400, "s")
	for i := 0; i < 20; i++ {
		if _, err := s.client.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "snap.fifo", Body: fmt.Sprint(i), MessageGroupId: "g", MessageDeduplicationId: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.stop()
	s.start()
	s.kill9()
	s.start()
	seen := s.drain("snap")
	for body := range acked {
		if seen[body] == 0 {
			t.Errorf("message %s lost across snapshot and restart", body)
		}
	}
	// FIFO order survives too.
	for i := 0; i < 20; i++ {
		resp, err := s.client.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "snap.fifo", MaxMessages: 1})
		if err != nil || len(resp.Messages) != 1 || resp.Messages[0].Body != fmt.Sprint(i) {
			t.Fatalf("fifo message %d after restart: %v %v", i, resp, err)
		}
		s.client.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "snap.fifo", ReceiptHandle: resp.Messages[0].ReceiptHandle})
	}
}

func TestBadInputOverHTTP(t *testing.T) {
	s := newServer(t)
	s.createQueue("q", false)
	s.createQueue("f.fifo", true)
	long := strings.Repeat("x", 300*1024)
	for _, tc := range []struct {
		name, method, body string
		code, field        string // expected Twirp code and the field named in the message
	}{
		{"empty queue name", "CreateQueue", `{"name":""}`, "invalid_argument", "name"},
		{"bad queue name", "CreateQueue", `{"name":"has space"}`, "invalid_argument", "name"},
		{"name too long", "CreateQueue", `{"name":"` + strings.Repeat("a", 81) + `"}`, "invalid_argument", "name"},
		{"visibility out of range", "CreateQueue", `{"name":"x","visibility_timeout_seconds":50000}`, "invalid_argument", "visibility_timeout_seconds"},
		{"retention too short", "CreateQueue", `{"name":"x","message_retention_seconds":10}`, "invalid_argument", "message_retention_seconds"},
		{"delay too long", "CreateQueue", `{"name":"x","delay_seconds":901}`, "invalid_argument", "delay_seconds"},
		{"max bytes too big", "CreateQueue", `{"name":"x","maximum_message_bytes":2000000}`, "invalid_argument", "maximum_message_bytes"},
		{"dlq missing", "CreateQueue", `{"name":"x","redrive_policy":{"dead_letter_queue":"nope","max_receive_count":3}}`, "invalid_argument", "dead_letter_queue"},
		{"same name other attributes", "CreateQueue", `{"name":"q","visibility_timeout_seconds":5}`, "already_exists", ""},
		{"unknown queue", "SendMessage", `{"queue":"nope","body":"x"}`, "not_found", ""},
		{"empty body", "SendMessage", `{"queue":"q","body":""}`, "invalid_argument", "body"},
		{"body too large", "SendMessage", `{"queue":"q","body":"` + long + `"}`, "invalid_argument", "body"},
		{"fifo without group", "SendMessage", `{"queue":"f.fifo","body":"x","message_deduplication_id":"d"}`, "invalid_argument", "message_group_id"},
		{"max messages 11", "ReceiveMessage", `{"queue":"q","max_messages":11}`, "invalid_argument", "max_messages"},
		{"wait 21", "ReceiveMessage", `{"queue":"q","wait_time_seconds":21}`, "invalid_argument", "wait_time_seconds"},
		{"garbage receipt handle", "DeleteMessage", `{"queue":"q","receipt_handle":"!!!"}`, "invalid_argument", "receipt_handle"},
		{"empty batch", "SendMessageBatch", `{"queue":"q","entries":[]}`, "invalid_argument", "entries"},
		{"malformed json", "SendMessage", `{"queue":`, "malformed", ""},
		{"wrong type", "SendMessage", `{"queue":"q","body":5}`, "malformed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post("http://"+s.apiAddr+"/twirp/wharf.v1.QueueService/"+tc.method, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Code string            `json:"code"`
				Msg  string            `json:"msg"`
				Meta map[string]string `json:"meta"`
			}
			if err := decodeJSON(resp, &out); err != nil {
				t.Fatal(err)
			}
			if out.Code != tc.code || !strings.Contains(out.Msg, tc.field) {
				t.Fatalf("got %s %q, want %s naming %q", out.Code, out.Msg, tc.code, tc.field)
			}
		})
	}
	// After all of that the server still serves and holds no stray data.
	if _, err := s.client.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "q", Body: "fine"}); err != nil {
		t.Fatal(err)
	}
	if got := s.drain("q"); len(got) != 1 || got["fine"] != 1 {
		t.Fatalf("queue holds %v", got)
	}
}

func TestForgedReceiptHandleDeletesNothing(t *testing.T) {
	s := newServer(t)
	s.createQueue("guard", false)
	s.sendN("guard", 1, "g")
	resp, err := s.client.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "guard", VisibilityTimeoutSeconds: ptr(int32(0))})
	if err != nil || len(resp.Messages) != 1 {
		t.Fatalf("receive: %v %v", resp, err)
	}
	// Same queue, partition, seq and receive count; a made-up tag.
	raw, err := base64.RawURLEncoding.DecodeString(resp.Messages[0].ReceiptHandle)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0xff
	forged := base64.RawURLEncoding.EncodeToString(raw)
	_, err = s.client.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "guard", ReceiptHandle: forged})
	if twerr, ok := err.(twirp.Error); !ok || twerr.Code() != twirp.InvalidArgument {
		t.Fatalf("delete with forged handle: %v", err)
	}
	if got := s.drain("guard"); got["g-0000"] != 1 {
		t.Fatalf("message gone after a forged delete: %v", got)
	}
}

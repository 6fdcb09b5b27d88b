package main_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/client"
)

// keepAlive is one HTTP/1.1 connection over TLS that stays open.
type keepAlive struct {
	t  *testing.T
	tc *tls.Conn
	r  *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string, pool *x509.CertPool) *keepAlive {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*tls.Conn)
	return &keepAlive{t: t, tc: tc, r: bufio.NewReader(tc)}
}

func (k *keepAlive) subject() string {
	return k.tc.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func (k *keepAlive) get(path string) int {
	k.t.Helper()
	k.tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(k.tc, "GET "+path+" HTTP/1.1\r\nHost: wharf\r\n\r\n"); err != nil {
		k.t.Fatalf("write on the open connection: %v", err)
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		k.t.Fatalf("read on the open connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func copyOver(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := certgen.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSReloadOnSIGHUP runs the real wharfd over HTTPS, uses it with the
// Go client, then swaps its certificate files and sends SIGHUP: new
// connections get the new certificate, the one opened before goes on.
func TestHTTPSReloadOnSIGHUP(t *testing.T) {
	certs := t.TempDir()
	if _, err := certgen.MakeDir(certgen.Request{Dir: certs, Nodes: []string{"node1", "node2"}, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	copyOver(t, filepath.Join(certs, "node1.crt"), crt)
	copyOver(t, filepath.Join(certs, "node1.key"), key)

	addrs := freeAddrs(t, 2)
	s := launchAt(t, addrs[0], addrs[1], "--tls-cert", crt, "--tls-key", key)
	pool, err := client.LoadCA(filepath.Join(certs, certgen.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + s.apiAddr
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wharfd not ready over HTTPS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs := func() string { b, _ := os.ReadFile(s.log.Name()); return string(b) }
	if l := logs(); !strings.Contains(l, "api_url=https://"+s.apiAddr) {
		t.Errorf("startup log does not say https:\n%s", l)
	}

	// The Go client, end to end, over HTTPS with WithCA.
	c := client.New([]string{base}, client.WithCA(pool))
	if _, err := c.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "tls"}); err != nil {
		t.Fatalf("create queue: %v", err)
	}
	if _, err := c.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "tls", Body: "over https"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := c.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "tls", WaitTimeSeconds: ptr(int32(5))})
	if err != nil || len(resp.Messages) != 1 || resp.Messages[0].Body != "over https" {
		t.Fatalf("receive: %v %v", resp, err)
	}
	if _, err := c.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "tls", ReceiptHandle: resp.Messages[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete: %v", err)
	}

	before := dialKeepAlive(t, s.apiAddr, pool)
	if before.get("/healthz") != http.StatusOK || before.subject() != "node1" {
		t.Fatalf("before SIGHUP: %s", before.subject())
	}
	copyOver(t, filepath.Join(certs, "node2.crt"), crt)
	copyOver(t, filepath.Join(certs, "node2.key"), key)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if dialKeepAlive(t, s.apiAddr, pool).subject() == "node2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get node1's certificate 10 s after SIGHUP:\n%s", logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if before.get("/healthz") != http.StatusOK || before.subject() != "node1" {
		t.Fatal("the connection opened before SIGHUP changed or broke")
	}

	// A broken file and SIGHUP: wharfd logs it and keeps serving node2.
	if err := os.WriteFile(key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs(), "TLS reload failed"); {
		if time.Now().After(deadline) {
			t.Fatalf("failed reload not logged:\n%s", logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs(), key) {
		t.Errorf("the failed reload's log does not name %s:\n%s", key, logs())
	}
	if k := dialKeepAlive(t, s.apiAddr, pool); k.get("/readyz") != http.StatusOK || k.subject() != "node2" {
		t.Fatalf("after a failed reload: %s", k.subject())
	}
	if _, err := c.ListQueues(ctx(t), &wharfv1.ListQueuesRequest{}); err != nil {
		t.Fatalf("the client after the reloads: %v", err)
	}
	s.stop()
}

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// testCerts makes a CA and certificates for node1 and node2 (valid for
// 127.0.0.1) in a new directory and returns it.
func testCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certgen.MakeDir(certgen.Request{Dir: dir, Nodes: []string{"node1", "node2"}, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool, err := tlsfiles.LoadCAPool(filepath.Join(dir, certgen.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// httpsClient trusts the CA in dir and speaks only the protocols given.
func httpsClient(t *testing.T, pool *x509.CertPool, h1, h2 bool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(h1)
	tr.Protocols.SetHTTP2(h2)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestServesHTTPS(t *testing.T) {
	certs := testCerts(t)
	addrs := freeAddrs(t, 2)
	fake := &fakeNode{}
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1], "--node-id", "1",
			"--tls-cert", filepath.Join(certs, "node1.crt"), "--tls-key", filepath.Join(certs, "node1.key")}, stderr, fake.start)
	}()
	base := "https://" + addrs[0]
	pool := caPool(t, certs)
	h1 := httpsClient(t, pool, true, false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := h1.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := stderr.String(); !strings.Contains(logs, "api_url=https://"+addrs[0]) {
		t.Errorf("startup log does not say https:\n%s", logs)
	}

	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  string
	}{
		{"HTTP/1.1", h1, "HTTP/1.1"},
		{"HTTP/2", httpsClient(t, pool, false, true), "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Proto != tc.proto || resp.TLS == nil {
				t.Fatalf("got %s %s %q (TLS %v), want 200 over %s", resp.Proto, resp.Status, body, resp.TLS != nil, tc.proto)
			}
			if v := resp.TLS.Version; v < tls.VersionTLS12 {
				t.Errorf("TLS version %x", v)
			}
		})
	}

	t.Run("plain HTTP refused", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addrs[0] + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
			t.Fatalf("plain HTTP got %s %q, want 400 saying the server speaks HTTPS", resp.Status, body)
		}
	})

	t.Run("another CA", func(t *testing.T) {
		_, err := httpsClient(t, caPool(t, testCerts(t)), true, true).Get(base + "/healthz")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("client trusting another CA: %v, want x509.UnknownAuthorityError", err)
		}
	})

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c := httpsClient(t, pool, true, false)
		c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
		if _, err := c.Get(base + "/healthz"); err == nil {
			t.Fatal("a TLS 1.1 client was served")
		}
	})

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
}

func TestBadCertificateFlags(t *testing.T) {
	certs := testCerts(t)
	addrs := freeAddrs(t, 2)
	stderr := &syncBuffer{}
	missing := filepath.Join(certs, "missing.crt")
	code := run(context.Background(), []string{"--data-dir", t.TempDir(), "--api-addr", addrs[0], "--raft-addr", addrs[1],
		"--tls-cert", missing, "--tls-key", filepath.Join(certs, "node1.key")}, stderr, mustNotStart(t))
	if code != 1 || !strings.Contains(stderr.String(), missing) {
		t.Fatalf("exit %d, want 1 and an error naming %s:\n%s", code, missing, stderr.String())
	}
}

// conn is one HTTP/1.1 keep-alive connection over TLS.
type conn struct {
	t  *testing.T
	tc *tls.Conn
	r  *bufio.Reader
}

func dialTLS(t *testing.T, addr string, pool *x509.CertPool) *conn {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*tls.Conn)
	return &conn{t: t, tc: tc, r: bufio.NewReader(tc)}
}

// subject is the common name of the certificate the server presented.
func (c *conn) subject() string { return c.tc.ConnectionState().PeerCertificates[0].Subject.CommonName }

// get sends GET path on the connection and returns the status code.
func (c *conn) get(path string) int {
	c.t.Helper()
	c.tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.tc, "GET "+path+" HTTP/1.1\r\nHost: wharf\r\n\r\n"); err != nil {
		c.t.Fatalf("write on the open connection: %v", err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("read on the open connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func replaceFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := certgen.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadKeepsConnections serves the API as run does (apiTLS,
// apiListener, serve) and calls the SIGHUP reload directly.
func TestReloadKeepsConnections(t *testing.T) {
	certs := testCerts(t)
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	replaceFile(t, filepath.Join(certs, "node1.crt"), crt)
	replaceFile(t, filepath.Join(certs, "node1.key"), key)

	reloads := &tlsfiles.Reloaders{}
	cfg, err := apiTLS(config{tlsCert: crt, tlsKey: key}, reloads)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, scheme := apiListener(raw, cfg)
	if scheme != "https" {
		t.Fatalf("scheme %q", scheme)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, startingHandler(), logger, time.Second) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	addr, pool := raw.Addr().String(), caPool(t, certs)

	before := dialTLS(t, addr, pool)
	if before.get("/healthz") != http.StatusOK || before.subject() != "node1" {
		t.Fatalf("before the reload: %s", before.subject())
	}

	replaceFile(t, filepath.Join(certs, "node2.crt"), crt)
	replaceFile(t, filepath.Join(certs, "node2.key"), key)
	reloadTLS(reloads, logger)
	if !strings.Contains(logs.String(), "TLS files reloaded") {
		t.Errorf("reload not logged:\n%s", logs)
	}
	after := dialTLS(t, addr, pool)
	if after.get("/healthz") != http.StatusOK || after.subject() != "node2" {
		t.Fatalf("a new connection after the reload got %s, want node2", after.subject())
	}
	// The connection opened before goes on, with its session.
	if before.get("/healthz") != http.StatusOK || before.subject() != "node1" {
		t.Fatal("the connection opened before the reload changed")
	}

	// A reload that fails (a half-written certificate) keeps the pair.
	if err := os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reloadTLS(reloads, logger)
	if l := logs.String(); !strings.Contains(l, "TLS reload failed") || !strings.Contains(l, crt) {
		t.Errorf("failed reload not logged with the file:\n%s", l)
	}
	if c := dialTLS(t, addr, pool); c.get("/healthz") != http.StatusOK || c.subject() != "node2" {
		t.Fatalf("after a failed reload the server presents %s, want node2 still", c.subject())
	}
	if before.get("/healthz") != http.StatusOK {
		t.Fatal("the first connection broke")
	}
}

package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/client"
	"github.com/wharfmq/wharf/transport/tlsfiles"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

// certDir makes a CA and a node1 certificate for 127.0.0.1.
func certDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certgen.MakeDir(certgen.Request{Dir: dir, Nodes: []string{"node1"}, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWithCA runs a real node behind the API handler over HTTPS (both
// HTTP/1.1 and HTTP/2 offered) and uses it through https:// with WithCA.
func TestWithCA(t *testing.T) {
	n := startNode(t)
	certs := certDir(t)
	pair, err := tlsfiles.LoadPair(filepath.Join(certs, "node1.crt"), filepath.Join(certs, "node1.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(twirpapi.NewHandler(n, n.Ready, nil))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*pair.Certificate()}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("server URL %s", srv.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pool, err := client.LoadCA(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New([]string{srv.URL}, client.WithCA(pool))
	if _, err := c.CreateQueue(ctx, &wharfv1.CreateQueueRequest{Name: "tls"}); err != nil {
		t.Fatalf("create queue over HTTPS: %v", err)
	}
	if _, err := c.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: "tls", Body: "secret"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := c.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: "tls", WaitTimeSeconds: ptr(int32(5))})
	if err != nil || len(resp.Messages) != 1 || resp.Messages[0].Body != "secret" {
		t.Fatalf("receive: %v %v", resp, err)
	}
	if _, err := c.DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: "tls", ReceiptHandle: resp.Messages[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete message: %v", err)
	}
	if _, err := c.DeleteQueue(ctx, &wharfv1.DeleteQueueRequest{Queue: "tls"}); err != nil {
		t.Fatalf("delete queue: %v", err)
	}

	// Without the CA (system roots) or with another one, the server is not
	// trusted, and the error says why.
	for name, opts := range map[string][]client.Option{
		"system roots": nil,
		"another CA":   {client.WithCA(mustLoadCA(t, filepath.Join(certDir(t), "ca.crt")))},
	} {
		c := client.New([]string{srv.URL}, append(opts, client.WithAttempts(1))...)
		_, err := c.ListQueues(ctx, &wharfv1.ListQueuesRequest{})
		var tw twirp.Error
		if !errors.As(err, &tw) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("%s: %v, want an error saying the certificate is not trusted", name, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func mustLoadCA(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pool, err := client.LoadCA(file)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing.pem")} {
		if _, err := client.LoadCA(f); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("LoadCA(%s): %v, want an error naming the file", f, err)
		}
	}

	t.Setenv(client.EnvCA, "")
	if pool, err := client.CAFromEnv(); pool != nil || err != nil {
		t.Errorf("unset %s: %v %v", client.EnvCA, pool, err)
	}
	t.Setenv(client.EnvCA, bad)
	if _, err := client.CAFromEnv(); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), client.EnvCA) {
		t.Errorf("bad %s: %v", client.EnvCA, err)
	}
	t.Setenv(client.EnvCA, filepath.Join(certDir(t), "ca.crt"))
	if pool, err := client.CAFromEnv(); pool == nil || err != nil {
		t.Errorf("good %s: %v %v", client.EnvCA, pool, err)
	}
	if client.DefaultEndpoint != "http://127.0.0.1:7070" {
		t.Errorf("default endpoint changed: %s", client.DefaultEndpoint)
	}
}

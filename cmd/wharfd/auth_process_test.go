package main_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

const openWarning = "no access keys: the API is open to anyone who can reach it"

func twirpCode(err error) twirp.ErrorCode {
	var tw twirp.Error
	if errors.As(err, &tw) {
		return tw.Code()
	}
	return ""
}

func wantCode(t *testing.T, what string, err error, code twirp.ErrorCode) {
	t.Helper()
	if got := twirpCode(err); got != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func (s *server) logText() string {
	s.t.Helper()
	b, err := os.ReadFile(s.log.Name())
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// A single node started with a bootstrap admin key file: authentication is
// on from the first request, the admin creates a producer that may only
// send to orders-*, revoking its key locks it out, and no secret is ever
// written in the clear under the data directory.
func TestAuthenticationEndToEnd(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	s := newServer(t, "--bootstrap-admin-key-file", keyFile, "--queue-shards", "1")
	endpoint := []string{"http://" + s.apiAddr}

	// The file was created with a new key, readable by its owner only.
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("bootstrap key file not created: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("bootstrap key file mode %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(keyFile)
	adminID, adminSecret, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		t.Fatalf("bootstrap key file holds %q", b)
	}
	if strings.Contains(s.logText(), adminSecret) {
		t.Error("the admin secret is in the log")
	}
	if strings.Contains(s.logText(), openWarning) {
		t.Error("the open-API warning was logged with authentication on")
	}

	// Unsigned: refused, and so is a signature made with a wrong secret.
	_, err = s.client.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "orders-1"})
	wantCode(t, "unsigned create", err, twirp.Unauthenticated)
	wrong := client.New(endpoint, client.WithCredentials(adminID, adminSecret+"x"), client.WithAttempts(1))
	_, err = wrong.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "orders-1"})
	wantCode(t, "create with a wrong secret", err, twirp.Unauthenticated)

	admin := client.New(endpoint, client.WithCredentials(adminID, adminSecret))
	adminAPI := client.NewAdmin(endpoint, client.WithCredentials(adminID, adminSecret))
	for _, q := range []string{"orders-1", "payments"} {
		if _, err := admin.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: q}); err != nil {
			t.Fatalf("admin creates %s: %v", q, err)
		}
	}
	created, err := adminAPI.CreatePrincipal(ctx(t), &wharfv1.CreatePrincipalRequest{Name: "producer"})
	if err != nil {
		t.Fatal(err)
	}
	key := created.GetSecret()
	if _, err := adminAPI.GrantPermission(ctx(t), &wharfv1.GrantPermissionRequest{Principal: "producer", Actions: []string{"send"}, QueuePattern: "orders-*"}); err != nil {
		t.Fatal(err)
	}

	producer := client.New(endpoint, client.WithCredentials(key.GetAccessKeyId(), key.GetSecretAccessKey()), client.WithAttempts(1))
	if _, err := producer.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "orders-1", Body: "hello"}); err != nil {
		t.Fatalf("producer sends to orders-1: %v", err)
	}
	_, err = producer.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "orders-1"})
	wantCode(t, "producer receives", err, twirp.PermissionDenied)
	_, err = producer.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "payments", Body: "x"})
	wantCode(t, "producer sends to payments", err, twirp.PermissionDenied)
	_, err = client.NewAdmin(endpoint, client.WithCredentials(key.GetAccessKeyId(), key.GetSecretAccessKey())).
		CreatePrincipal(ctx(t), &wharfv1.CreatePrincipalRequest{Name: "mallory"})
	wantCode(t, "producer creates a principal", err, twirp.PermissionDenied)
	_, err = client.NewCluster(endpoint, client.WithCredentials(key.GetAccessKeyId(), key.GetSecretAccessKey())).
		AddNode(ctx(t), &wharfv1.AddNodeRequest{RaftAddr: "127.0.0.1:1", ApiAddr: "127.0.0.1:2"})
	wantCode(t, "producer adds a node", err, twirp.PermissionDenied)

	// The admin received what the producer sent.
	resp, err := admin.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "orders-1", WaitTimeSeconds: ptr(int32(1))})
	if err != nil || len(resp.GetMessages()) != 1 || resp.GetMessages()[0].GetBody() != "hello" {
		t.Fatalf("admin receives: %v %v", resp, err)
	}

	// A revoked key is refused at once (this node holds the metadata).
	if _, err := adminAPI.RevokeAccessKey(ctx(t), &wharfv1.RevokeAccessKeyRequest{AccessKeyId: key.GetAccessKeyId()}); err != nil {
		t.Fatal(err)
	}
	_, err = producer.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "orders-1", Body: "after revoke"})
	wantCode(t, "send with a revoked key", err, twirp.Unauthenticated)

	// A restart keeps it all; the bootstrap file changes nothing now.
	s.stop()
	s.start()
	if _, err := admin.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "orders-1"}); err != nil {
		t.Fatalf("admin after restart: %v", err)
	}
	_, err = s.client.GetQueue(ctx(t), &wharfv1.GetQueueRequest{Queue: "orders-1"})
	wantCode(t, "unsigned after restart", err, twirp.Unauthenticated)
	if !strings.Contains(s.logText(), "principals exist already") {
		t.Error("the restart did not log that the bootstrap key changed nothing")
	}
	s.stop()

	// No secret in the clear under the data directory; the sealing key
	// lives next to it, not in it.
	secrets := []string{adminSecret, key.GetSecretAccessKey()}
	files := 0
	err = filepath.WalkDir(s.dataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds a secret in the clear", path)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walked %d files: %v", files, err)
	}
	if _, err := os.Stat(s.dataDir + ".cluster-key"); err != nil {
		t.Errorf("the single node's sealing key is not next to its data directory: %v", err)
	}
}

// Without keys the node is open, and says so once at start.
func TestOpenNodeWarns(t *testing.T) {
	s := newServer(t, "--queue-shards", "1")
	s.createQueue("q", false)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logText(), openWarning) {
		if time.Now().After(deadline) {
			t.Fatalf("no open-API warning in the log:\n%s", s.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(s.logText(), openWarning); n != 1 {
		t.Errorf("the open-API warning was logged %d times", n)
	}
}

package node

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var testClusterKey = bytes.Repeat([]byte{0x5a}, 32)

func withClusterKey(key []byte) func(*Config) {
	return func(c *Config) {
		c.ClusterKey = key
		c.SnapshotEntries = 5 // the metadata shard snapshots, so snapshots are checked too
	}
}

// Principals and keys live in the metadata shard; the directory the API
// door checks opens their secrets; revocation and restarts (through
// snapshots) are reflected; no secret is ever written in the clear.
func TestPrincipalsAndKeys(t *testing.T) {
	n := startNode(t, withClusterKey(testClusterKey))
	d := must(n.AuthDirectory(ctx(t)))
	if d.Enabled() {
		t.Fatal("authentication on with no principal")
	}

	const adminID, adminSecret = "WKIDBOOTSTRAP00001", "bootstrap-secret-0123456789"
	if !must(n.BootstrapAdmin(ctx(t), adminID, adminSecret)) {
		t.Fatal("bootstrap did not create the admin")
	}
	if must(n.BootstrapAdmin(ctx(t), "WKIDBOOTSTRAP00002", adminSecret)) {
		t.Fatal("a second bootstrap created another admin")
	}
	bob := must(n.CreatePrincipal(ctx(t), &wharfv1.CreatePrincipalRequest{Name: "bob"}))
	bobKey := bob.GetSecret()
	must(n.GrantPermission(ctx(t), &wharfv1.GrantPermissionRequest{Principal: "bob", Actions: []string{"send"}, QueuePattern: "orders-*"}))
	second := must(n.CreateAccessKey(ctx(t), &wharfv1.CreateAccessKeyRequest{Principal: "bob"})).GetSecret()
	must(n.RevokeAccessKey(ctx(t), &wharfv1.RevokeAccessKeyRequest{AccessKeyId: second.GetAccessKeyId()}))

	check := func(when string) {
		t.Helper()
		d := must(n.AuthDirectory(ctx(t)))
		if !d.Enabled() {
			t.Fatalf("%s: authentication off with principals", when)
		}
		if k, ok := d.Key(adminID); !ok || k.Secret != adminSecret || k.Principal != "admin" || k.Err != nil {
			t.Fatalf("%s: admin key %+v", when, k)
		}
		if k, ok := d.Key(bobKey.GetAccessKeyId()); !ok || k.Secret != bobKey.GetSecretAccessKey() || k.Revoked {
			t.Fatalf("%s: bob's key %+v", when, k)
		}
		if k, ok := d.Key(second.GetAccessKeyId()); !ok || !k.Revoked || k.Secret != "" {
			t.Fatalf("%s: bob's revoked key %+v", when, k)
		}
		if p := d.Principal("bob"); !auth.Allowed(p, auth.Send, "orders-1") || auth.Allowed(p, auth.Receive, "orders-1") {
			t.Fatalf("%s: bob's permissions %+v", when, p)
		}
		if p := d.Principal("admin"); !auth.Allowed(p, auth.ClusterAdmin, "") || !auth.Allowed(p, auth.Purge, "any") {
			t.Fatalf("%s: admin's permissions %+v", when, p)
		}
	}
	check("running")
	// Concurrent requests right after a change share one read.
	must(n.GrantPermission(ctx(t), &wharfv1.GrantPermissionRequest{Principal: "bob", Actions: []string{"receive"}, QueuePattern: "orders-*"}))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := n.AuthDirectory(ctx(t))
			if err != nil || !auth.Allowed(d.Principal("bob"), auth.Receive, "orders-1") {
				t.Errorf("concurrent read: %v, %v", d, err)
			}
		}()
	}
	wg.Wait()
	must(n.RevokePermission(ctx(t), &wharfv1.RevokePermissionRequest{Principal: "bob", Actions: []string{"receive"}, QueuePattern: "orders-*"}))
	// Enough metadata commands for the shard to snapshot (every 5 entries).
	for i := range 6 {
		must(n.GrantPermission(ctx(t), &wharfv1.GrantPermissionRequest{Principal: "bob", Actions: []string{"get_queue"}, QueuePattern: "q" + string(rune('a'+i))}))
	}
	n.restart()
	check("restarted")

	list := must(n.ListPrincipals(ctx(t), &wharfv1.ListPrincipalsRequest{})).GetPrincipals()
	if len(list) != 2 || list[0].GetName() != "admin" || list[1].GetName() != "bob" || len(list[1].GetAccessKeys()) != 2 {
		t.Fatalf("listed %v", list)
	}

	// No secret in the clear anywhere under the data directory: the Raft
	// log, the snapshots, the stores.
	secrets := []string{adminSecret, bobKey.GetSecretAccessKey(), second.GetSecretAccessKey()}
	files := 0
	err := filepath.WalkDir(n.dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret in the clear", path)
			}
		}
		// The key ids are stored in the clear: proof the walk reads
		// the files that hold the principals.
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no file under the data directory")
	}

	// The last principal cannot be deleted; bob can.
	must(n.DeletePrincipal(ctx(t), &wharfv1.DeletePrincipalRequest{Name: "bob"}))
	_, err = n.DeletePrincipal(ctx(t), &wharfv1.DeletePrincipalRequest{Name: "admin"})
	wantCode(t, err, core.FailedPrecondition, "")
	_, err = n.GrantPermission(ctx(t), &wharfv1.GrantPermissionRequest{Principal: "admin", Actions: []string{"sned"}, QueuePattern: "*"})
	wantCode(t, err, core.InvalidArgument, "actions")
	_, err = n.CreatePrincipal(ctx(t), &wharfv1.CreatePrincipalRequest{Name: "admin"})
	wantCode(t, err, core.AlreadyExists, "")
}

// The key ids are in the files, so the secret grep above reads what it
// should: a control for TestPrincipalsAndKeys.
func TestKeyIDsAreStored(t *testing.T) {
	n := startNode(t, withClusterKey(testClusterKey))
	const id = "WKIDSTOREDINCLEAR01"
	must(n.BootstrapAdmin(ctx(t), id, "a-secret-of-enough-length"))
	found := false
	filepath.WalkDir(n.dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(path)
			found = found || bytes.Contains(b, []byte(id))
		}
		return nil
	})
	if !found {
		t.Fatal("the access key id is in no file: the data directory grep cannot see the principals")
	}
}

func TestKeysNeedAClusterKey(t *testing.T) {
	n := startNode(t, nil)
	_, err := n.CreatePrincipal(ctx(t), &wharfv1.CreatePrincipalRequest{Name: "bob"})
	wantCode(t, err, core.FailedPrecondition, "")
	_, err = n.BootstrapAdmin(ctx(t), "WKIDBOOTSTRAP00001", "bootstrap-secret-0123456789")
	wantCode(t, err, core.FailedPrecondition, "")

	// A node with another cluster key than the one that sealed a secret
	// cannot use the key, and says why.
	n2 := startNode(t, withClusterKey(testClusterKey))
	must(n2.BootstrapAdmin(ctx(t), "WKIDBOOTSTRAP00001", "bootstrap-secret-0123456789"))
	n2.opts = withClusterKey(bytes.Repeat([]byte{1}, 32))
	n2.restart()
	k, ok := must(n2.AuthDirectory(ctx(t))).Key("WKIDBOOTSTRAP00001")
	if !ok || !errors.Is(k.Err, auth.ErrCannotOpen) || k.Secret != "" {
		t.Fatalf("key under another cluster key: %+v", k)
	}
}

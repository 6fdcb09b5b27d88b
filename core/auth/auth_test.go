package auth_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "orders", true},
		{"*", "", true},
		{"orders-*", "orders-1", true},
		{"orders-*", "orders-", true},
		{"orders-*", "orders", false},
		{"orders-*", "payments-1", false},
		{"orders", "orders", true},
		{"orders", "orders-1", false},
		{"*.fifo", "orders.fifo", true},
		{"*.fifo", "orders", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXcYb", false},
		{"*-dlq", "orders-dlq", true},
		{"*-dlq", "orders-dlq2", false},
		{"**", "x", true},
	} {
		if got := auth.Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// Every action is allowed by a grant of it on a matching pattern, and by
// nothing else: not another action, not a pattern that does not match.
func TestAllowedMatrix(t *testing.T) {
	for _, granted := range auth.AllActions {
		pattern := "orders-*"
		if granted == auth.ClusterAdmin {
			pattern = auth.AnyQueue
		}
		p := &auth.Principal{Name: "p", Permissions: []auth.Permission{{Action: granted, Pattern: pattern}}}
		for _, asked := range auth.AllActions {
			for _, queue := range []string{"orders-1", "payments"} {
				want := asked == granted && (queue == "orders-1" || granted == auth.ClusterAdmin)
				if got := auth.Allowed(p, asked, queue); got != want {
					t.Errorf("granted %s on %s, asked %s on %s: allowed %v, want %v", granted, pattern, asked, queue, got, want)
				}
			}
		}
	}
	if auth.Allowed(nil, auth.Send, "q") {
		t.Error("a nil principal is allowed")
	}
	// cluster_admin held on a narrower pattern (which Check refuses, but
	// a record could hold) grants nothing.
	narrow := &auth.Principal{Permissions: []auth.Permission{{Action: auth.ClusterAdmin, Pattern: "orders-*"}}}
	if auth.Allowed(narrow, auth.ClusterAdmin, "") {
		t.Error("cluster_admin on orders-* allowed cluster administration")
	}
}

func TestPermissionCheck(t *testing.T) {
	for _, tc := range []struct {
		perm auth.Permission
		bad  string // part of the error; "" for none
	}{
		{auth.Permission{Action: auth.Send, Pattern: "orders-*"}, ""},
		{auth.Permission{Action: auth.Send, Pattern: "x.fifo"}, ""},
		{auth.Permission{Action: "sned", Pattern: "*"}, "unknown action"},
		{auth.Permission{Action: auth.Send, Pattern: ""}, "must not be empty"},
		{auth.Permission{Action: auth.Send, Pattern: "a/b"}, "invalid character"},
		{auth.Permission{Action: auth.Send, Pattern: strings.Repeat("a", 101)}, "at most"},
		{auth.Permission{Action: auth.ClusterAdmin, Pattern: "orders-*"}, "cluster-wide"},
		{auth.Permission{Action: auth.ClusterAdmin, Pattern: "*"}, ""},
	} {
		err := tc.perm.Check()
		if (err == nil) != (tc.bad == "") || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("Check(%v) = %v, want error containing %q", tc.perm, err, tc.bad)
		}
	}
}

// Every RPC of the public services maps to an action, and the table names
// no RPC that does not exist.
func TestRPCActionsCoverEveryRPC(t *testing.T) {
	seen := map[string]bool{}
	for _, fd := range []protoreflect.FileDescriptor{
		wharfv1.File_wharf_v1_queue_service_proto,
		wharfv1.File_wharf_v1_cluster_service_proto,
		wharfv1.File_wharf_v1_security_proto,
	} {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				name := string(svc.Name()) + "/" + string(svc.Methods().Get(j).Name())
				seen[name] = true
				if _, ok := auth.RPCActions[name]; !ok {
					t.Errorf("RPC %s has no action in auth.RPCActions", name)
				}
			}
		}
	}
	for name := range auth.RPCActions {
		if !seen[name] {
			t.Errorf("auth.RPCActions names %s, which is no RPC", name)
		}
	}
}

func TestSeal(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := auth.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := auth.NewAccessKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CheckAccessKey(id, secret); err != nil {
		t.Fatalf("a new key does not pass its own check: %v", err)
	}
	sealed, err := s.Seal(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) {
		t.Fatal("the sealed form holds the secret")
	}
	if got, err := s.Open(id, sealed); err != nil || got != secret {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}
	// Another key id: the sealed secret is bound to its key.
	if _, err := s.Open(id+"X", sealed); !errors.Is(err, auth.ErrCannotOpen) {
		t.Errorf("opened under another key id: %v", err)
	}
	// Another cluster key.
	other, _ := auth.NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(id, sealed); !errors.Is(err, auth.ErrCannotOpen) {
		t.Errorf("opened with another cluster key: %v", err)
	}
	// A changed byte.
	sealed[len(sealed)-1] ^= 1
	if _, err := s.Open(id, sealed); err == nil {
		t.Error("a changed sealed secret opened")
	}
	if _, err := auth.NewSealer(key[:16]); err == nil {
		t.Error("a 16-byte cluster key was accepted")
	}
}

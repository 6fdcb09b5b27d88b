package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeAdmin records the requests and answers with a fixed principal.
type fakeAdmin struct {
	requests []proto.Message
}

var bob = &wharfv1.Principal{Name: "bob", AccessKeys: []*wharfv1.AccessKey{{AccessKeyId: "WKIDOLD", RevokedTimestamp: 5}, {AccessKeyId: "WKIDNEW"}},
	Permissions: []*wharfv1.Permission{{Action: "send", QueuePattern: "orders-*"}}}

var bobSecret = &wharfv1.Secret{AccessKeyId: "WKIDNEW", SecretAccessKey: "s3cr3t"}

func (f *fakeAdmin) CreatePrincipal(_ context.Context, req *wharfv1.CreatePrincipalRequest) (*wharfv1.CreatePrincipalResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.CreatePrincipalResponse{Principal: bob, Secret: bobSecret}, nil
}

func (f *fakeAdmin) ListPrincipals(_ context.Context, req *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.ListPrincipalsResponse{Principals: []*wharfv1.Principal{bob}}, nil
}

func (f *fakeAdmin) DeletePrincipal(_ context.Context, req *wharfv1.DeletePrincipalRequest) (*wharfv1.DeletePrincipalResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.DeletePrincipalResponse{}, nil
}

func (f *fakeAdmin) CreateAccessKey(_ context.Context, req *wharfv1.CreateAccessKeyRequest) (*wharfv1.CreateAccessKeyResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.CreateAccessKeyResponse{Principal: bob, Secret: bobSecret}, nil
}

func (f *fakeAdmin) RevokeAccessKey(_ context.Context, req *wharfv1.RevokeAccessKeyRequest) (*wharfv1.RevokeAccessKeyResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.RevokeAccessKeyResponse{Principal: bob}, nil
}

func (f *fakeAdmin) GrantPermission(_ context.Context, req *wharfv1.GrantPermissionRequest) (*wharfv1.GrantPermissionResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.GrantPermissionResponse{Principal: bob}, nil
}

func (f *fakeAdmin) RevokePermission(_ context.Context, req *wharfv1.RevokePermissionRequest) (*wharfv1.RevokePermissionResponse, error) {
	f.requests = append(f.requests, req)
	return &wharfv1.RevokePermissionResponse{Principal: bob}, nil
}

func runAdmin(t *testing.T, admin *fakeAdmin, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{in: strings.NewReader(""), out: &out, errOut: &errOut, endpoint: "http://default:7070",
		dialAdmin: func(endpoints []string) wharfv1.AdminService { return admin }}
	code := c.run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestAdminCommands(t *testing.T) {
	all := func(pattern string, actions ...string) []*wharfv1.Permission {
		var out []*wharfv1.Permission
		for _, a := range actions {
			out = append(out, &wharfv1.Permission{Action: a, QueuePattern: pattern})
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want proto.Message
		out  string // part of stdout
	}{
		{[]string{"principal", "create", "bob"}, &wharfv1.CreatePrincipalRequest{Name: "bob"}, "secret_access_key: s3cr3t"},
		{[]string{"principal", "create", "--admin", "root"}, &wharfv1.CreatePrincipalRequest{Name: "root",
			Permissions: all("*", "send", "receive", "delete", "purge", "create_queue", "delete_queue", "update_queue", "get_queue", "cluster_admin")}, "WKIDNEW"},
		{[]string{"principal", "list"}, &wharfv1.ListPrincipalsRequest{}, "WKIDOLD (revoked), WKIDNEW  send on orders-*"},
		{[]string{"principal", "delete", "bob"}, &wharfv1.DeletePrincipalRequest{Name: "bob"}, ""},
		{[]string{"key", "create", "bob"}, &wharfv1.CreateAccessKeyRequest{Principal: "bob"}, "s3cr3t"},
		{[]string{"key", "revoke", "WKIDOLD"}, &wharfv1.RevokeAccessKeyRequest{AccessKeyId: "WKIDOLD"}, "bob"},
		{[]string{"grant", "bob", "send,receive", "orders-*"}, &wharfv1.GrantPermissionRequest{Principal: "bob", Actions: []string{"send", "receive"}, QueuePattern: "orders-*"}, "bob"},
		{[]string{"grant", "bob", "all", "*"}, &wharfv1.GrantPermissionRequest{Principal: "bob",
			Actions: []string{"send", "receive", "delete", "purge", "create_queue", "delete_queue", "update_queue", "get_queue"}, QueuePattern: "*"}, "bob"},
		{[]string{"revoke", "bob", "send", "orders-*"}, &wharfv1.RevokePermissionRequest{Principal: "bob", Actions: []string{"send"}, QueuePattern: "orders-*"}, "bob"},
	} {
		admin := &fakeAdmin{}
		r := runAdmin(t, admin, tc.args...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", tc.args, r.code, r.stderr)
			continue
		}
		if len(admin.requests) != 1 || !proto.Equal(admin.requests[0], tc.want) {
			t.Errorf("%q: requests %v, want %v", tc.args, admin.requests, tc.want)
		}
		if !strings.Contains(r.stdout, tc.out) {
			t.Errorf("%q: output lacks %q:\n%s", tc.args, tc.out, r.stdout)
		}
	}
}

func TestAdminUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"grant", "bob", "sned", "*"},
		{"grant", "bob", "send"},
		{"revoke", "bob"},
		{"principal", "create"},
		{"key", "revoke"},
		{"principal", "list", "extra"},
	} {
		admin := &fakeAdmin{}
		if r := runAdmin(t, admin, args...); r.code != 2 || len(admin.requests) != 0 {
			t.Errorf("%q: exit %d with %d requests, want a usage error (2) and none; stderr %s", args, r.code, len(admin.requests), r.stderr)
		}
	}
	if r := runAdmin(t, &fakeAdmin{}, "grant", "-h"); r.code != 0 || !strings.Contains(r.stderr, "QUEUE_PATTERN") {
		t.Errorf("grant -h: exit %d, %s", r.code, r.stderr)
	}
}

// failingAdmin refuses every call as a server with authentication on
// refuses an unsigned request.
type failingAdmin struct{ fakeAdmin }

func (f *failingAdmin) ListPrincipals(context.Context, *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	return nil, twirp.NewError(twirp.Unauthenticated, "missing signature")
}

func TestUnauthenticatedHint(t *testing.T) {
	var out, errOut bytes.Buffer
	c := &cli{in: strings.NewReader(""), out: &out, errOut: &errOut, endpoint: "http://default:7070",
		dialAdmin: func([]string) wharfv1.AdminService { return &failingAdmin{} }}
	if code := c.run(context.Background(), []string{"principal", "list"}); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "WHARF_ACCESS_KEY_ID") {
		t.Fatalf("no hint about the credentials: %s", errOut.String())
	}
}

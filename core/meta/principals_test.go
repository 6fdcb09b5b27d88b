package meta

import (
	"bytes"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

func principalCmd(now int64, name string, onlyIfNone bool, keys []string, perms ...string) *raftv1.MetaCommand {
	rec := &raftv1.PrincipalRecord{Name: name}
	for _, k := range keys {
		rec.AccessKeys = append(rec.AccessKeys, &raftv1.AccessKeyRecord{AccessKeyId: k, SealedSecret: []byte("sealed:" + k)})
	}
	rec.Permissions = permRecords(perms...)
	return &raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_CreatePrincipal{
		CreatePrincipal: &raftv1.CreatePrincipal{Principal: rec, OnlyIfNone: onlyIfNone}}}
}

// permRecords takes action, pattern pairs.
func permRecords(pairs ...string) []*raftv1.PermissionRecord {
	var out []*raftv1.PermissionRecord
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, &raftv1.PermissionRecord{Action: pairs[i], QueuePattern: pairs[i+1]})
	}
	return out
}

func mustApply(t *testing.T, s *State, cmd *raftv1.MetaCommand) *raftv1.MetaResult {
	t.Helper()
	res := s.Apply(cmd)
	if res.GetStatus() != nil {
		t.Fatalf("%v: %v", cmd.GetOp(), res.GetStatus())
	}
	return res
}

func wantCode(t *testing.T, res *raftv1.MetaResult, code raftv1.ErrorCode) {
	t.Helper()
	if res.GetStatus().GetCode() != code {
		t.Fatalf("got %v, want %v", res.GetStatus(), code)
	}
}

func TestPrincipals(t *testing.T) {
	s := New()
	res := mustApply(t, s, principalCmd(100, "admin", true, []string{"WKIDADMIN0000000001"}, "cluster_admin", "*", "send", "*", "send", "*"))
	if p := res.GetPrincipal(); p.GetCreatedMs() != 100 || len(p.GetPermissions()) != 2 || p.GetAccessKeys()[0].GetCreatedMs() != 100 {
		t.Fatalf("created %v: want created at 100 with 2 permissions (the duplicate merged)", p)
	}
	// The bootstrap applies once.
	wantCode(t, s.Apply(principalCmd(101, "other-admin", true, []string{"WKIDADMIN0000000002"}, "cluster_admin", "*")), codePrecondition)
	wantCode(t, s.Apply(principalCmd(101, "admin", false, nil)), codeAlreadyExists)
	// Key ids are unique across principals.
	wantCode(t, s.Apply(principalCmd(102, "bob", false, []string{"WKIDADMIN0000000001"})), codeAlreadyExists)
	wantCode(t, s.Apply(principalCmd(102, "bad name", false, nil)), codeInvalid)
	wantCode(t, s.Apply(principalCmd(102, "bob", false, nil, "sned", "*")), codeInvalid)
	wantCode(t, s.Apply(principalCmd(102, "bob", false, nil, "cluster_admin", "orders-*")), codeInvalid)
	mustApply(t, s, principalCmd(103, "bob", false, []string{"WKIDBOB000000000001"}, "send", "orders-*"))

	add := func(now int64, who, id string) *raftv1.MetaResult {
		return s.Apply(&raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_AddAccessKey{AddAccessKey: &raftv1.AddAccessKey{
			Principal: who, Key: &raftv1.AccessKeyRecord{AccessKeyId: id, SealedSecret: []byte("sealed")}}}})
	}
	if res := add(104, "bob", "WKIDBOB000000000002"); len(res.GetPrincipal().GetAccessKeys()) != 2 {
		t.Fatalf("add key: %v", res)
	}
	wantCode(t, add(104, "bob", "WKIDADMIN0000000001"), codeAlreadyExists)
	wantCode(t, add(104, "nobody", "WKIDX00000000000001"), codeNotFound)
	wantCode(t, s.Apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddAccessKey{AddAccessKey: &raftv1.AddAccessKey{
		Principal: "bob", Key: &raftv1.AccessKeyRecord{AccessKeyId: "WKIDNOSECRET0000001"}}}}), codeInvalid)

	revoke := func(now int64, id string) *raftv1.MetaResult {
		return s.Apply(&raftv1.MetaCommand{NowMs: now, Op: &raftv1.MetaCommand_RevokeAccessKey{RevokeAccessKey: &raftv1.RevokeAccessKey{AccessKeyId: id}}})
	}
	res = revoke(105, "WKIDBOB000000000001")
	k := res.GetPrincipal().GetAccessKeys()[0]
	if k.GetRevokedMs() != 105 || k.GetSealedSecret() != nil {
		t.Fatalf("revoked key %v: want revoked at 105 and its secret dropped", k)
	}
	// Revoking again changes nothing.
	if k := revoke(200, "WKIDBOB000000000001").GetPrincipal().GetAccessKeys()[0]; k.GetRevokedMs() != 105 {
		t.Fatalf("revoked again: %v", k)
	}
	wantCode(t, revoke(106, "WKIDNONE"), codeNotFound)

	grant := &raftv1.MetaCommand{Op: &raftv1.MetaCommand_GrantPermissions{GrantPermissions: &raftv1.GrantPermissions{
		Principal: "bob", Permissions: permRecords("receive", "orders-*", "delete", "orders-*", "send", "orders-*")}}}
	if got := mustApply(t, s, grant).GetPrincipal().GetPermissions(); len(got) != 3 || got[0].GetAction() != "delete" {
		t.Fatalf("granted: %v; want delete, receive, send on orders-*, in order", got)
	}
	revokePerms := &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokePermissions{RevokePermissions: &raftv1.RevokePermissions{
		Principal: "bob", Permissions: permRecords("send", "orders-*", "purge", "*")}}}
	if got := mustApply(t, s, revokePerms).GetPrincipal().GetPermissions(); len(got) != 2 {
		t.Fatalf("after revoking send: %v", got)
	}

	mustApply(t, s, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeletePrincipal{DeletePrincipal: &raftv1.DeletePrincipal{Name: "bob"}}})
	// Bob's key ids are free again, and he is gone.
	if s.Principal("bob") != nil {
		t.Fatal("bob still exists")
	}
	if res := add(107, "admin", "WKIDBOB000000000002"); res.GetStatus() != nil {
		t.Fatalf("a deleted principal's key id is not free: %v", res.GetStatus())
	}
	// The last principal cannot go: that would open the API.
	wantCode(t, s.Apply(&raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeletePrincipal{DeletePrincipal: &raftv1.DeletePrincipal{Name: "admin"}}}), codePrecondition)
}

func TestSnapshotRoundTripsPrincipals(t *testing.T) {
	s := New()
	mustApply(t, s, principalCmd(100, "amy", false, []string{"WKIDAMY000000000001"}, "cluster_admin", "*"))
	mustApply(t, s, principalCmd(101, "zed", false, []string{"WKIDZED000000000001", "WKIDZED000000000000"}, "send", "a-*"))
	mustApply(t, s, &raftv1.MetaCommand{NowMs: 102, Op: &raftv1.MetaCommand_RevokeAccessKey{RevokeAccessKey: &raftv1.RevokeAccessKey{AccessKeyId: "WKIDZED000000000000"}}})
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	again, _ := r.Marshal()
	if !bytes.Equal(data, again) {
		t.Fatal("the restored state marshals differently")
	}
	got := r.Principals()
	if len(got) != 2 || got[0].GetName() != "amy" || !proto.Equal(got[1], s.Principal("zed")) {
		t.Fatalf("restored principals %v", got)
	}
	// The key index came back too: a restored key id is taken.
	wantCode(t, r.Apply(principalCmd(103, "eve", false, []string{"WKIDAMY000000000001"})), codeAlreadyExists)

	// A snapshot naming a key twice is refused.
	bad := &raftv1.MetaState{NextId: 1, Principals: []*raftv1.PrincipalRecord{
		{Name: "a", AccessKeys: []*raftv1.AccessKeyRecord{{AccessKeyId: "K"}}},
		{Name: "b", AccessKeys: []*raftv1.AccessKeyRecord{{AccessKeyId: "K"}}},
	}}
	b, _ := proto.Marshal(bad)
	if err := New().Unmarshal(b); err == nil {
		t.Fatal("a snapshot with a key of two principals was accepted")
	}
}

// Authentication can never be left on with nobody able to administer the
// cluster: the first principal is an admin, and the last admin (with a
// valid key) cannot lose its permission, its last key, or its existence.
func TestAnAdminAlwaysRemains(t *testing.T) {
	s := New()
	wantCode(t, s.Apply(principalCmd(1, "bob", false, []string{"WKIDBOB000000000001"}, "send", "*")), codePrecondition)
	wantCode(t, s.Apply(principalCmd(1, "keyless", false, nil, "cluster_admin", "*")), codePrecondition)
	mustApply(t, s, principalCmd(1, "admin", false, []string{"WKIDADMIN0000000001"}, "cluster_admin", "*"))
	mustApply(t, s, principalCmd(2, "bob", false, []string{"WKIDBOB000000000001"}, "send", "*"))

	revokeKey := &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokeAccessKey{RevokeAccessKey: &raftv1.RevokeAccessKey{AccessKeyId: "WKIDADMIN0000000001"}}}
	revokeAdmin := &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokePermissions{RevokePermissions: &raftv1.RevokePermissions{
		Principal: "admin", Permissions: permRecords("cluster_admin", "*")}}}
	deleteAdmin := &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeletePrincipal{DeletePrincipal: &raftv1.DeletePrincipal{Name: "admin"}}}
	for _, cmd := range []*raftv1.MetaCommand{revokeKey, revokeAdmin, deleteAdmin} {
		wantCode(t, s.Apply(cmd), codePrecondition)
	}
	// With a second admin, each goes through.
	mustApply(t, s, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_GrantPermissions{GrantPermissions: &raftv1.GrantPermissions{
		Principal: "bob", Permissions: permRecords("cluster_admin", "*")}}})
	for _, cmd := range []*raftv1.MetaCommand{revokeKey, revokeAdmin, deleteAdmin} {
		mustApply(t, s, cmd)
	}
}

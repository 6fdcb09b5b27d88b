package node

import (
	"context"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var _ wharfv1.AdminService = (*Node)(nil)

// AdminService: principals, access keys and permissions, stored in the
// metadata shard (core/meta/principals.go). New keys are made here and
// their secrets sealed before the proposal, so that only the response
// carries a secret in the clear. Who may call these is the API door's
// business (transport/apiauth): cluster_admin.

// CreatePrincipal creates a principal with one new access key.
func (n *Node) CreatePrincipal(ctx context.Context, req *wharfv1.CreatePrincipalRequest) (*wharfv1.CreatePrincipalResponse, error) {
	if err := auth.CheckPrincipalName(req.GetName()); err != nil {
		return nil, core.FieldError("name", "%v", err)
	}
	rec := &raftv1.PrincipalRecord{Name: req.GetName()}
	for _, p := range req.GetPermissions() {
		perms, err := permissionRecords(req.GetName(), []string{p.GetAction()}, p.GetQueuePattern())
		if err != nil {
			return nil, core.FieldError("permissions", "%v", err)
		}
		rec.Permissions = append(rec.Permissions, perms...)
	}
	key, secret, err := n.newSealedKey()
	if err != nil {
		return nil, err
	}
	rec.AccessKeys = []*raftv1.AccessKeyRecord{key}
	res, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreatePrincipal{
		CreatePrincipal: &raftv1.CreatePrincipal{Principal: rec}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.CreatePrincipalResponse{Principal: apiPrincipal(res), Secret: secret}, nil
}

// ListPrincipals lists every principal, without secrets.
func (n *Node) ListPrincipals(ctx context.Context, _ *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	recs, err := n.readPrincipals(ctx)
	if err != nil {
		return nil, err
	}
	out := &wharfv1.ListPrincipalsResponse{}
	for _, rec := range recs {
		out.Principals = append(out.Principals, apiPrincipal(rec))
	}
	return out, nil
}

// DeletePrincipal deletes a principal and its keys.
func (n *Node) DeletePrincipal(ctx context.Context, req *wharfv1.DeletePrincipalRequest) (*wharfv1.DeletePrincipalResponse, error) {
	if req.GetName() == "" {
		return nil, core.FieldError("name", "must not be empty")
	}
	_, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_DeletePrincipal{
		DeletePrincipal: &raftv1.DeletePrincipal{Name: req.GetName()}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.DeletePrincipalResponse{}, nil
}

// CreateAccessKey adds a new access key to a principal.
func (n *Node) CreateAccessKey(ctx context.Context, req *wharfv1.CreateAccessKeyRequest) (*wharfv1.CreateAccessKeyResponse, error) {
	if req.GetPrincipal() == "" {
		return nil, core.FieldError("principal", "must not be empty")
	}
	key, secret, err := n.newSealedKey()
	if err != nil {
		return nil, err
	}
	res, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddAccessKey{
		AddAccessKey: &raftv1.AddAccessKey{Principal: req.GetPrincipal(), Key: key}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.CreateAccessKeyResponse{Principal: apiPrincipal(res), Secret: secret}, nil
}

// RevokeAccessKey revokes an access key.
func (n *Node) RevokeAccessKey(ctx context.Context, req *wharfv1.RevokeAccessKeyRequest) (*wharfv1.RevokeAccessKeyResponse, error) {
	if req.GetAccessKeyId() == "" {
		return nil, core.FieldError("access_key_id", "must not be empty")
	}
	res, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokeAccessKey{
		RevokeAccessKey: &raftv1.RevokeAccessKey{AccessKeyId: req.GetAccessKeyId()}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.RevokeAccessKeyResponse{Principal: apiPrincipal(res)}, nil
}

// GrantPermission grants actions on a queue pattern.
func (n *Node) GrantPermission(ctx context.Context, req *wharfv1.GrantPermissionRequest) (*wharfv1.GrantPermissionResponse, error) {
	perms, err := permissionRecords(req.GetPrincipal(), req.GetActions(), req.GetQueuePattern())
	if err != nil {
		return nil, err
	}
	res, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_GrantPermissions{
		GrantPermissions: &raftv1.GrantPermissions{Principal: req.GetPrincipal(), Permissions: perms}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.GrantPermissionResponse{Principal: apiPrincipal(res)}, nil
}

// RevokePermission takes back actions granted on a queue pattern.
func (n *Node) RevokePermission(ctx context.Context, req *wharfv1.RevokePermissionRequest) (*wharfv1.RevokePermissionResponse, error) {
	perms, err := permissionRecords(req.GetPrincipal(), req.GetActions(), req.GetQueuePattern())
	if err != nil {
		return nil, err
	}
	res, err := n.proposePrincipal(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RevokePermissions{
		RevokePermissions: &raftv1.RevokePermissions{Principal: req.GetPrincipal(), Permissions: perms}}})
	if err != nil {
		return nil, err
	}
	return &wharfv1.RevokePermissionResponse{Principal: apiPrincipal(res)}, nil
}

// newSealedKey makes a new access key: its stored form, secret sealed, and
// the secret to hand out once.
func (n *Node) newSealedKey() (*raftv1.AccessKeyRecord, *wharfv1.Secret, error) {
	sealer, err := n.sealer()
	if err != nil {
		return nil, nil, core.Errorf(core.FailedPrecondition, "cannot create access keys: %v", err)
	}
	id, secret, err := auth.NewAccessKey()
	if err != nil {
		return nil, nil, core.Errorf(core.Internal, "%v", err)
	}
	sealed, err := sealer.Seal(id, secret)
	if err != nil {
		return nil, nil, core.Errorf(core.Internal, "%v", err)
	}
	return &raftv1.AccessKeyRecord{AccessKeyId: id, SealedSecret: sealed},
		&wharfv1.Secret{AccessKeyId: id, SecretAccessKey: secret}, nil
}

// proposePrincipal proposes a principal command and returns the principal
// it left, or the command's failure.
func (n *Node) proposePrincipal(ctx context.Context, cmd *raftv1.MetaCommand) (*raftv1.PrincipalRecord, error) {
	res, err := n.proposeMeta(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, err
	}
	return res.GetPrincipal(), nil
}

// permissionRecords validates a grant or revoke request.
func permissionRecords(principal string, actions []string, pattern string) ([]*raftv1.PermissionRecord, error) {
	if principal == "" {
		return nil, core.FieldError("principal", "must not be empty")
	}
	if len(actions) == 0 {
		return nil, core.FieldError("actions", "must name at least one action")
	}
	out := make([]*raftv1.PermissionRecord, 0, len(actions))
	for _, a := range actions {
		if _, err := auth.ParseAction(a); err != nil {
			return nil, core.FieldError("actions", "%v", err)
		}
		if err := auth.CheckPattern(pattern); err != nil {
			return nil, core.FieldError("queue_pattern", "%v", err)
		}
		if err := (auth.Permission{Action: auth.Action(a), Pattern: pattern}).Check(); err != nil {
			return nil, core.FieldError("queue_pattern", "%v", err)
		}
		out = append(out, &raftv1.PermissionRecord{Action: a, QueuePattern: pattern})
	}
	return out, nil
}

// apiPrincipal is the public view of a principal: no secrets.
func apiPrincipal(rec *raftv1.PrincipalRecord) *wharfv1.Principal {
	out := &wharfv1.Principal{Name: rec.GetName(), CreatedTimestamp: rec.GetCreatedMs()}
	for _, k := range rec.GetAccessKeys() {
		out.AccessKeys = append(out.AccessKeys, &wharfv1.AccessKey{
			AccessKeyId: k.GetAccessKeyId(), CreatedTimestamp: k.GetCreatedMs(), RevokedTimestamp: k.GetRevokedMs()})
	}
	for _, p := range rec.GetPermissions() {
		out.Permissions = append(out.Permissions, &wharfv1.Permission{Action: p.GetAction(), QueuePattern: p.GetQueuePattern()})
	}
	return out
}

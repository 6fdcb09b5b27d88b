package client

import (
	"context"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// NewAdmin returns an AdminService (principals, access keys, permissions)
// that talks to the cluster at endpoints, with the same failover, attempts,
// backoff, timeouts and credentials as New.
//
// Listing is a read, and revoking a key or granting or revoking
// permissions twice leaves what once does, so those are retried after any
// transport failure or timeout. Creating a principal or a key makes a new
// secret each time, and deleting a principal twice fails the second time,
// so those are retried only when the first attempt certainly did nothing.
func NewAdmin(endpoints []string, opts ...Option) wharfv1.AdminService {
	return &adminClient{newClient(endpoints, opts, func(url string, hc wharfv1.HTTPClient) wharfv1.QueueService {
		return adminConn{AdminService: wharfv1.NewAdminServiceProtobufClient(url, hc)}
	})}
}

// adminConn lets call drive AdminService connections, as clusterConn does.
type adminConn struct {
	wharfv1.QueueService
	wharfv1.AdminService
}

func adminRPC[Req, Resp any](rpc func(wharfv1.AdminService, context.Context, Req) (Resp, error)) func(wharfv1.QueueService, context.Context, Req) (Resp, error) {
	return func(conn wharfv1.QueueService, ctx context.Context, req Req) (Resp, error) {
		return rpc(conn.(adminConn).AdminService, ctx, req)
	}
}

type adminClient struct{ c *client }

func (c *adminClient) CreatePrincipal(ctx context.Context, req *wharfv1.CreatePrincipalRequest) (*wharfv1.CreatePrincipalResponse, error) {
	return call(ctx, c.c, "CreatePrincipal", onlyNotProcessed, 0, req, adminRPC(wharfv1.AdminService.CreatePrincipal))
}

func (c *adminClient) ListPrincipals(ctx context.Context, req *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	return call(ctx, c.c, "ListPrincipals", repeatable, 0, req, adminRPC(wharfv1.AdminService.ListPrincipals))
}

func (c *adminClient) DeletePrincipal(ctx context.Context, req *wharfv1.DeletePrincipalRequest) (*wharfv1.DeletePrincipalResponse, error) {
	return call(ctx, c.c, "DeletePrincipal", onlyNotProcessed, 0, req, adminRPC(wharfv1.AdminService.DeletePrincipal))
}

func (c *adminClient) CreateAccessKey(ctx context.Context, req *wharfv1.CreateAccessKeyRequest) (*wharfv1.CreateAccessKeyResponse, error) {
	return call(ctx, c.c, "CreateAccessKey", onlyNotProcessed, 0, req, adminRPC(wharfv1.AdminService.CreateAccessKey))
}

func (c *adminClient) RevokeAccessKey(ctx context.Context, req *wharfv1.RevokeAccessKeyRequest) (*wharfv1.RevokeAccessKeyResponse, error) {
	return call(ctx, c.c, "RevokeAccessKey", repeatable, 0, req, adminRPC(wharfv1.AdminService.RevokeAccessKey))
}

func (c *adminClient) GrantPermission(ctx context.Context, req *wharfv1.GrantPermissionRequest) (*wharfv1.GrantPermissionResponse, error) {
	return call(ctx, c.c, "GrantPermission", repeatable, 0, req, adminRPC(wharfv1.AdminService.GrantPermission))
}

func (c *adminClient) RevokePermission(ctx context.Context, req *wharfv1.RevokePermissionRequest) (*wharfv1.RevokePermissionResponse, error) {
	return call(ctx, c.c, "RevokePermission", repeatable, 0, req, adminRPC(wharfv1.AdminService.RevokePermission))
}

package client

import (
	"context"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// NewCluster returns a ClusterService that talks to the cluster at
// endpoints, with the same failover, attempts, backoff and timeouts as New
// (and the same options). Any node answers.
//
// Every ClusterService call is safe to repeat, so each is retried after
// any transport failure or timeout and after the server's unavailable or
// deadline_exceeded: GetClusterStatus is a read, AddNode of a registered
// node (same id, or no id and the same raft address) answers that node
// again, and RemoveNode of a draining node answers it again.
func NewCluster(endpoints []string, opts ...Option) wharfv1.ClusterService {
	return &clusterClient{newClient(endpoints, opts, func(url string, hc wharfv1.HTTPClient) wharfv1.QueueService {
		return clusterConn{ClusterService: wharfv1.NewClusterServiceProtobufClient(url, hc)}
	})}
}

// clusterConn lets call, which takes the QueueService connections of a
// client, drive ClusterService connections. Its QueueService is nil and
// never called: clusterRPC reaches the ClusterService.
type clusterConn struct {
	wharfv1.QueueService
	wharfv1.ClusterService
}

// clusterRPC adapts a ClusterService method to call.
func clusterRPC[Req, Resp any](rpc func(wharfv1.ClusterService, context.Context, Req) (Resp, error)) func(wharfv1.QueueService, context.Context, Req) (Resp, error) {
	return func(conn wharfv1.QueueService, ctx context.Context, req Req) (Resp, error) {
		return rpc(conn.(clusterConn).ClusterService, ctx, req)
	}
}

type clusterClient struct{ c *client }

func (c *clusterClient) GetClusterStatus(ctx context.Context, req *wharfv1.GetClusterStatusRequest) (*wharfv1.GetClusterStatusResponse, error) {
	return call(ctx, c.c, "GetClusterStatus", repeatable, 0, req, clusterRPC(wharfv1.ClusterService.GetClusterStatus))
}

func (c *clusterClient) AddNode(ctx context.Context, req *wharfv1.AddNodeRequest) (*wharfv1.AddNodeResponse, error) {
	return call(ctx, c.c, "AddNode", repeatable, 0, req, clusterRPC(wharfv1.ClusterService.AddNode))
}

func (c *clusterClient) RemoveNode(ctx context.Context, req *wharfv1.RemoveNodeRequest) (*wharfv1.RemoveNodeResponse, error) {
	return call(ctx, c.c, "RemoveNode", repeatable, 0, req, clusterRPC(wharfv1.ClusterService.RemoveNode))
}

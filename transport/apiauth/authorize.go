package apiauth

import (
	"context"
	"fmt"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Queues returns svc with every RPC checked against the request's
// principal first (see check). ListQueues lists only the queues the
// principal may get.
func Queues(svc wharfv1.QueueService) wharfv1.QueueService { return queues{svc} }

// Cluster returns svc with every RPC checked: cluster_admin.
func Cluster(svc wharfv1.ClusterService) wharfv1.ClusterService { return cluster{svc} }

// Admin returns svc with every RPC checked: cluster_admin.
func Admin(svc wharfv1.AdminService) wharfv1.AdminService { return admin{svc} }

// check lets the RPC through if authentication is off or the principal
// holds its action (auth.RPCActions) on the queue; otherwise it returns
// Twirp's permission_denied naming the action and queue missing. A
// context that went through no authentication at all is refused:
// forgetting Handler must not open the service.
func check(ctx context.Context, rpc, queue string) error {
	a, ok := accessFrom(ctx)
	if !ok {
		return twirp.NewError(twirp.Unauthenticated, "the request did not go through authentication")
	}
	if a.open {
		return nil
	}
	action, known := auth.RPCActions[rpc]
	if !known {
		return twirp.NewErrorf(twirp.PermissionDenied, "no action governs %s", rpc)
	}
	if auth.Allowed(a.principal, action, queue) {
		return nil
	}
	return denied(a.principal, action, queue, rpc)
}

// denied is the permission_denied error for a missing permission, with
// its action and queue in the error's meta too.
func denied(p *auth.Principal, action auth.Action, queue, rpc string) error {
	var err twirp.Error
	if action == auth.ClusterAdmin {
		err = twirp.NewError(twirp.PermissionDenied, fmt.Sprintf(
			"principal %q lacks %s (needed by %s)", p.Name, action, rpc))
	} else {
		err = twirp.NewError(twirp.PermissionDenied, fmt.Sprintf(
			"principal %q lacks %s on queue %q (needed by %s)", p.Name, action, queue, rpc))
		err = err.WithMeta("queue", queue)
	}
	return err.WithMeta("action", string(action))
}

// guard runs call if check allows it.
func guard[Req, Resp any](ctx context.Context, rpc, queue string, req Req, call func(context.Context, Req) (Resp, error)) (Resp, error) {
	if err := check(ctx, rpc, queue); err != nil {
		var zero Resp
		return zero, err
	}
	return call(ctx, req)
}

type queues struct{ next wharfv1.QueueService }

// ListQueues needs get_queue on some pattern, and lists only the names it
// matches. A page may then hold fewer names than asked, or none, with a
// next token all the same.
func (s queues) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	a, ok := accessFrom(ctx)
	if !ok || a.open {
		if err := check(ctx, "QueueService/ListQueues", ""); err != nil {
			return nil, err
		}
		return s.next.ListQueues(ctx, req)
	}
	if !auth.Holds(a.principal, auth.GetQueue) {
		return nil, denied(a.principal, auth.GetQueue, "*", "QueueService/ListQueues")
	}
	resp, err := s.next.ListQueues(ctx, req)
	if err != nil {
		return nil, err
	}
	names := resp.GetQueues()[:0:0]
	for _, name := range resp.GetQueues() {
		if auth.Allowed(a.principal, auth.GetQueue, name) {
			names = append(names, name)
		}
	}
	return &wharfv1.ListQueuesResponse{Queues: names, NextToken: resp.GetNextToken()}, nil
}

func (s queues) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	const rpc = "QueueService/CreateQueue"
	if err := checkDeadLetter(ctx, rpc, req.GetRedrivePolicy()); err != nil {
		return nil, err
	}
	return guard(ctx, rpc, req.GetName(), req, s.next.CreateQueue)
}

// checkDeadLetter: a redrive policy makes the queue move messages into its
// dead-letter queue, which is a send there; so whoever sets one must be
// allowed to send to that queue, or a principal could fill a queue it has
// no rights on. An empty target (no policy, or UpdateQueue removing it)
// needs nothing.
func checkDeadLetter(ctx context.Context, rpc string, rp *wharfv1.RedrivePolicy) error {
	target := rp.GetDeadLetterQueue()
	a, ok := accessFrom(ctx)
	if target == "" || !ok || a.open {
		return nil // check (in guard) refuses a context with no access
	}
	if auth.Allowed(a.principal, auth.Send, target) {
		return nil
	}
	return denied(a.principal, auth.Send, target, rpc+" (dead-letter queue)")
}

func (s queues) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	return guard(ctx, "QueueService/DeleteQueue", req.GetQueue(), req, s.next.DeleteQueue)
}

func (s queues) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	return guard(ctx, "QueueService/GetQueue", req.GetQueue(), req, s.next.GetQueue)
}

func (s queues) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	const rpc = "QueueService/UpdateQueue"
	if err := checkDeadLetter(ctx, rpc, req.GetRedrivePolicy()); err != nil {
		return nil, err
	}
	return guard(ctx, rpc, req.GetQueue(), req, s.next.UpdateQueue)
}

func (s queues) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	return guard(ctx, "QueueService/PurgeQueue", req.GetQueue(), req, s.next.PurgeQueue)
}

func (s queues) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	return guard(ctx, "QueueService/SendMessage", req.GetQueue(), req, s.next.SendMessage)
}

func (s queues) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	return guard(ctx, "QueueService/SendMessageBatch", req.GetQueue(), req, s.next.SendMessageBatch)
}

func (s queues) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	return guard(ctx, "QueueService/ReceiveMessage", req.GetQueue(), req, s.next.ReceiveMessage)
}

func (s queues) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	return guard(ctx, "QueueService/DeleteMessage", req.GetQueue(), req, s.next.DeleteMessage)
}

func (s queues) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	return guard(ctx, "QueueService/DeleteMessageBatch", req.GetQueue(), req, s.next.DeleteMessageBatch)
}

func (s queues) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	return guard(ctx, "QueueService/ChangeMessageVisibility", req.GetQueue(), req, s.next.ChangeMessageVisibility)
}

func (s queues) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	return guard(ctx, "QueueService/ChangeMessageVisibilityBatch", req.GetQueue(), req, s.next.ChangeMessageVisibilityBatch)
}

type cluster struct{ next wharfv1.ClusterService }

func (s cluster) GetClusterStatus(ctx context.Context, req *wharfv1.GetClusterStatusRequest) (*wharfv1.GetClusterStatusResponse, error) {
	return guard(ctx, "ClusterService/GetClusterStatus", "", req, s.next.GetClusterStatus)
}

func (s cluster) AddNode(ctx context.Context, req *wharfv1.AddNodeRequest) (*wharfv1.AddNodeResponse, error) {
	return guard(ctx, "ClusterService/AddNode", "", req, s.next.AddNode)
}

func (s cluster) RemoveNode(ctx context.Context, req *wharfv1.RemoveNodeRequest) (*wharfv1.RemoveNodeResponse, error) {
	return guard(ctx, "ClusterService/RemoveNode", "", req, s.next.RemoveNode)
}

type admin struct{ next wharfv1.AdminService }

func (s admin) CreatePrincipal(ctx context.Context, req *wharfv1.CreatePrincipalRequest) (*wharfv1.CreatePrincipalResponse, error) {
	return guard(ctx, "AdminService/CreatePrincipal", "", req, s.next.CreatePrincipal)
}

func (s admin) ListPrincipals(ctx context.Context, req *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	return guard(ctx, "AdminService/ListPrincipals", "", req, s.next.ListPrincipals)
}

func (s admin) DeletePrincipal(ctx context.Context, req *wharfv1.DeletePrincipalRequest) (*wharfv1.DeletePrincipalResponse, error) {
	return guard(ctx, "AdminService/DeletePrincipal", "", req, s.next.DeletePrincipal)
}

func (s admin) CreateAccessKey(ctx context.Context, req *wharfv1.CreateAccessKeyRequest) (*wharfv1.CreateAccessKeyResponse, error) {
	return guard(ctx, "AdminService/CreateAccessKey", "", req, s.next.CreateAccessKey)
}

func (s admin) RevokeAccessKey(ctx context.Context, req *wharfv1.RevokeAccessKeyRequest) (*wharfv1.RevokeAccessKeyResponse, error) {
	return guard(ctx, "AdminService/RevokeAccessKey", "", req, s.next.RevokeAccessKey)
}

func (s admin) GrantPermission(ctx context.Context, req *wharfv1.GrantPermissionRequest) (*wharfv1.GrantPermissionResponse, error) {
	return guard(ctx, "AdminService/GrantPermission", "", req, s.next.GrantPermission)
}

func (s admin) RevokePermission(ctx context.Context, req *wharfv1.RevokePermissionRequest) (*wharfv1.RevokePermissionResponse, error) {
	return guard(ctx, "AdminService/RevokePermission", "", req, s.next.RevokePermission)
}

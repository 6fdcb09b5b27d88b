package apiauth

import (
	"context"
	"sync"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeServices answers every RPC with an empty response and records who
// called (auth.PrincipalFrom) each RPC that ran.
type fakeServices struct {
	mu    sync.Mutex
	calls []string // "RPC by principal" ("" when none)
}

func (f *fakeServices) record(ctx context.Context, rpc string) {
	name, _ := auth.PrincipalFrom(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, rpc+" by "+name)
}

func (f *fakeServices) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeServices) ListQueues(ctx context.Context, _ *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	f.record(ctx, "QueueService/ListQueues")
	return &wharfv1.ListQueuesResponse{Queues: []string{"orders-1", "orders-2", "payments"}, NextToken: "next"}, nil
}

func (f *fakeServices) CreateQueue(ctx context.Context, _ *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	f.record(ctx, "QueueService/CreateQueue")
	return &wharfv1.CreateQueueResponse{}, nil
}

func (f *fakeServices) DeleteQueue(ctx context.Context, _ *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	f.record(ctx, "QueueService/DeleteQueue")
	return &wharfv1.DeleteQueueResponse{}, nil
}

func (f *fakeServices) GetQueue(ctx context.Context, _ *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	f.record(ctx, "QueueService/GetQueue")
	return &wharfv1.GetQueueResponse{}, nil
}

func (f *fakeServices) UpdateQueue(ctx context.Context, _ *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	f.record(ctx, "QueueService/UpdateQueue")
	return &wharfv1.UpdateQueueResponse{}, nil
}

func (f *fakeServices) PurgeQueue(ctx context.Context, _ *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	f.record(ctx, "QueueService/PurgeQueue")
	return &wharfv1.PurgeQueueResponse{}, nil
}

func (f *fakeServices) SendMessage(ctx context.Context, _ *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	f.record(ctx, "QueueService/SendMessage")
	return &wharfv1.SendMessageResponse{}, nil
}

func (f *fakeServices) SendMessageBatch(ctx context.Context, _ *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	f.record(ctx, "QueueService/SendMessageBatch")
	return &wharfv1.SendMessageBatchResponse{}, nil
}

func (f *fakeServices) ReceiveMessage(ctx context.Context, _ *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	f.record(ctx, "QueueService/ReceiveMessage")
	return &wharfv1.ReceiveMessageResponse{}, nil
}

func (f *fakeServices) DeleteMessage(ctx context.Context, _ *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	f.record(ctx, "QueueService/DeleteMessage")
	return &wharfv1.DeleteMessageResponse{}, nil
}

func (f *fakeServices) DeleteMessageBatch(ctx context.Context, _ *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	f.record(ctx, "QueueService/DeleteMessageBatch")
	return &wharfv1.DeleteMessageBatchResponse{}, nil
}

func (f *fakeServices) ChangeMessageVisibility(ctx context.Context, _ *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	f.record(ctx, "QueueService/ChangeMessageVisibility")
	return &wharfv1.ChangeMessageVisibilityResponse{}, nil
}

func (f *fakeServices) ChangeMessageVisibilityBatch(ctx context.Context, _ *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	f.record(ctx, "QueueService/ChangeMessageVisibilityBatch")
	return &wharfv1.ChangeMessageVisibilityBatchResponse{}, nil
}

func (f *fakeServices) GetClusterStatus(ctx context.Context, _ *wharfv1.GetClusterStatusRequest) (*wharfv1.GetClusterStatusResponse, error) {
	f.record(ctx, "ClusterService/GetClusterStatus")
	return &wharfv1.GetClusterStatusResponse{}, nil
}

func (f *fakeServices) AddNode(ctx context.Context, _ *wharfv1.AddNodeRequest) (*wharfv1.AddNodeResponse, error) {
	f.record(ctx, "ClusterService/AddNode")
	return &wharfv1.AddNodeResponse{}, nil
}

func (f *fakeServices) RemoveNode(ctx context.Context, _ *wharfv1.RemoveNodeRequest) (*wharfv1.RemoveNodeResponse, error) {
	f.record(ctx, "ClusterService/RemoveNode")
	return &wharfv1.RemoveNodeResponse{}, nil
}

func (f *fakeServices) CreatePrincipal(ctx context.Context, _ *wharfv1.CreatePrincipalRequest) (*wharfv1.CreatePrincipalResponse, error) {
	f.record(ctx, "AdminService/CreatePrincipal")
	return &wharfv1.CreatePrincipalResponse{}, nil
}

func (f *fakeServices) ListPrincipals(ctx context.Context, _ *wharfv1.ListPrincipalsRequest) (*wharfv1.ListPrincipalsResponse, error) {
	f.record(ctx, "AdminService/ListPrincipals")
	return &wharfv1.ListPrincipalsResponse{}, nil
}

func (f *fakeServices) DeletePrincipal(ctx context.Context, _ *wharfv1.DeletePrincipalRequest) (*wharfv1.DeletePrincipalResponse, error) {
	f.record(ctx, "AdminService/DeletePrincipal")
	return &wharfv1.DeletePrincipalResponse{}, nil
}

func (f *fakeServices) CreateAccessKey(ctx context.Context, _ *wharfv1.CreateAccessKeyRequest) (*wharfv1.CreateAccessKeyResponse, error) {
	f.record(ctx, "AdminService/CreateAccessKey")
	return &wharfv1.CreateAccessKeyResponse{}, nil
}

func (f *fakeServices) RevokeAccessKey(ctx context.Context, _ *wharfv1.RevokeAccessKeyRequest) (*wharfv1.RevokeAccessKeyResponse, error) {
	f.record(ctx, "AdminService/RevokeAccessKey")
	return &wharfv1.RevokeAccessKeyResponse{}, nil
}

func (f *fakeServices) GrantPermission(ctx context.Context, _ *wharfv1.GrantPermissionRequest) (*wharfv1.GrantPermissionResponse, error) {
	f.record(ctx, "AdminService/GrantPermission")
	return &wharfv1.GrantPermissionResponse{}, nil
}

func (f *fakeServices) RevokePermission(ctx context.Context, _ *wharfv1.RevokePermissionRequest) (*wharfv1.RevokePermissionResponse, error) {
	f.record(ctx, "AdminService/RevokePermission")
	return &wharfv1.RevokePermissionResponse{}, nil
}

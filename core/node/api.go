package node

import (
	"context"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var errTODO = core.Errorf(core.Internal, "not implemented")

func (n *Node) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	return nil, errTODO
}
func (n *Node) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	return nil, errTODO
}
func (n *Node) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	return nil, errTODO
}
func (n *Node) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	return nil, errTODO
}
func (n *Node) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	return nil, errTODO
}
func (n *Node) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	return nil, errTODO
}
func (n *Node) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	return nil, errTODO
}
func (n *Node) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	return nil, errTODO
}
func (n *Node) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	return nil, errTODO
}
func (n *Node) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	return nil, errTODO
}
func (n *Node) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	return nil, errTODO
}
func (n *Node) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	return nil, errTODO
}
func (n *Node) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	return nil, errTODO
}

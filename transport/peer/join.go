package peer

import (
	"context"

	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

var _ node.Joiner = (*Client)(nil)

// Join asks a member, at its peer (Raft) address, to register a new node
// (NodeService.Join), and returns every registered node. Only a node the
// peer port authenticates gets that far.
func (c *Client) Join(ctx context.Context, memberRaftAddr string, n *raftv1.NodeRecord) ([]*raftv1.NodeRecord, error) {
	return call(ctx, c, memberRaftAddr,
		&nodev1.JoinRequest{NodeId: n.GetNodeId(), RaftAddr: n.GetRaftAddr(), ApiAddr: n.GetApiAddr()},
		func(s nodev1.NodeService, ctx context.Context, req *nodev1.JoinRequest) ([]*raftv1.NodeRecord, error) {
			resp, err := s.Join(ctx, req)
			return resp.GetMembers(), err
		})
}

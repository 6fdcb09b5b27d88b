package peer

import (
	"context"

	"github.com/wharfmq/wharf/core/node"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

var _ node.Joiner = (*Client)(nil)

// Join asks a member to register a new node, through the member's public
// ClusterService, and returns every registered node.
func (c *Client) Join(ctx context.Context, memberAPIAddr string, n *raftv1.NodeRecord) ([]*raftv1.NodeRecord, error) {
	admin := wharfv1.NewClusterServiceProtobufClient(baseURL(memberAPIAddr), c.http)
	resp, err := admin.AddNode(ctx, &wharfv1.AddNodeRequest{NodeId: n.GetNodeId(), RaftAddr: n.GetRaftAddr(), ApiAddr: n.GetApiAddr()})
	if err != nil {
		return nil, fromTwirp(ctx, err)
	}
	var members []*raftv1.NodeRecord
	for _, m := range resp.GetMembers() {
		members = append(members, &raftv1.NodeRecord{NodeId: m.GetNodeId(), RaftAddr: m.GetRaftAddr(), ApiAddr: m.GetApiAddr()})
	}
	return members, nil
}

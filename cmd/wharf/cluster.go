package main

import (
	"context"
	"strconv"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func (c *cli) clusterStatus(ctx context.Context, args []string) error {
	fs := c.flagSet("cluster status", "")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return c.usageError(fs, "unexpected arguments %q", pos)
	}
	resp, err := c.cluster().GetClusterStatus(ctx, &wharfv1.GetClusterStatusRequest{})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printClusterStatus(c.out, resp)
}

func (c *cli) clusterAdd(ctx context.Context, args []string) error {
	fs := c.flagSet("cluster add", "--raft-addr HOST:PORT --api-addr HOST:PORT [--node-id N]\n\n"+
		"Registers a node. A new node normally registers itself: start it with\n"+
		"wharfd --join. Adding a registered node again updates its addresses.")
	raftAddr := fs.String("raft-addr", "", "the node's Raft `HOST:PORT` (required)")
	apiAddr := fs.String("api-addr", "", "the node's API `HOST:PORT` (required)")
	nodeID := fs.Uint64("node-id", 0, "node id `N`, 1-999 (default: the cluster chooses one)")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return c.usageError(fs, "unexpected arguments %q", pos)
	case *raftAddr == "":
		return c.usageError(fs, "--raft-addr is required")
	case *apiAddr == "":
		return c.usageError(fs, "--api-addr is required")
	}
	resp, err := c.cluster().AddNode(ctx, &wharfv1.AddNodeRequest{NodeId: *nodeID, RaftAddr: *raftAddr, ApiAddr: *apiAddr})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printNode(c.out, resp.GetNode())
}

func (c *cli) clusterRemove(ctx context.Context, args []string) error {
	fs := c.flagSet("cluster remove", "NODE_ID\n\n"+
		"Starts draining the node: its replicas move to other nodes, then the\n"+
		"cluster forgets it. Removing a draining node again does nothing.")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usageError(fs, "want one NODE_ID, got %d arguments", len(pos))
	}
	id, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil || id == 0 {
		return c.usageError(fs, "NODE_ID must be a positive integer, not %q", pos[0])
	}
	resp, err := c.cluster().RemoveNode(ctx, &wharfv1.RemoveNodeRequest{NodeId: id})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printNode(c.out, resp.GetNode())
}

// Package node is one Wharf node: it owns the dragonboat NodeHost that
// replicates the metadata shard and the queue shards, turns API requests
// into proposals, serves long polls, and runs the background loops.
package node

import (
	"context"
	"log/slog"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Config configures a Node.
type Config struct {
	NodeID   uint64 // replica id of this node in every shard; 1 for a single node
	DataDir  string // everything the node stores lives under it
	RaftAddr string // host:port dragonboat listens on for other nodes
	// QueueShards is how many queue shards a new single-node cluster creates.
	QueueShards int
	Logger      *slog.Logger
	// Now returns the wall clock that stamps proposals; time.Now if nil.
	Now func() time.Time
}

// Node is a running Wharf node. It implements wharfv1.QueueService; errors
// it returns are *core.Error.
type Node struct {
	cfg Config
}

var _ wharfv1.QueueService = (*Node)(nil)

// Start opens (or creates) the node's data under cfg.DataDir and starts its
// shards. It returns once the node is serving or ctx ends.
func Start(ctx context.Context, cfg Config) (*Node, error) { panic("TODO") }

// Ready reports whether the node can serve requests (its shards have leaders
// and it has read the metadata).
func (n *Node) Ready() bool { panic("TODO") }

// Close stops the node. In-flight requests fail with Unavailable.
func (n *Node) Close() error { panic("TODO") }

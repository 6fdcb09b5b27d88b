// Package node is one Wharf node: it owns the dragonboat NodeHost that
// replicates the metadata shard and the queue shards, turns API requests
// into proposals, serves long polls, and runs the background loops.
package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/wharfmq/wharf/core/meta"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/vfs"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Config configures a Node.
type Config struct {
	NodeID   uint64 // replica id of this node in every shard; 1 for a single node
	DataDir  string // everything the node stores lives under it
	RaftAddr string // host:port other nodes reach this node's Raft at
	// RaftListenAddr is the host:port dragonboat listens on, when other
	// nodes reach it through a proxy or NAT at RaftAddr; empty: RaftAddr.
	RaftListenAddr string
	// APIAddr is where this node serves the client API, as registered in
	// the metadata shard (the cluster status shows it). Other nodes reach
	// this one at RaftAddr, never here.
	APIAddr string
	// InitialMembers bootstraps a new cluster: node id to Raft address of
	// every initial node, this one included. Empty with no Join: a
	// single-node cluster of this node. Ignored once the node has data.
	InitialMembers map[uint64]string
	// Join is the peer (Raft) address of a member of a running cluster,
	// which a new node asks to register it (NodeService.Join, through
	// Peers). Ignored once the node has data.
	Join string
	// ReplicationFactor is how many replicas a new cluster gives each
	// queue shard (1-5, capped at the number of nodes); 0 means 3.
	ReplicationFactor int
	// Peers reaches the other nodes, to forward shard operations to the
	// ones that host the shard (see onShard); nil for a single node.
	Peers Peers
	// LongPolls admits the long polls about to wait (transport/limits caps
	// them per node and per principal); nil admits every one.
	LongPolls LongPollGate
	// QueueShards is how many queue shards a new single-node cluster creates.
	QueueShards int
	Logger      *slog.Logger
	// Now returns the wall clock that stamps proposals; time.Now if nil.
	Now func() time.Time
	// SnapshotEntries is how many applied entries trigger a Raft snapshot
	// (and log compaction) of every shard; 0 means the defaults (1000 for
	// the metadata shard, 10000 for queue shards). Tests lower it to force
	// snapshots.
	SnapshotEntries uint64
	// Rand is the source of message ids; crypto/rand if nil. A simulator
	// injects a seeded one.
	Rand io.Reader
	// FS holds everything the node stores: dragonboat's log and snapshots,
	// the queue shards' Pebble stores and the node's own files. nil means
	// the operating system's. A simulator injects an in-memory one whose
	// unsynced writes a simulated crash discards.
	FS vfs.FS
	// RefuseOpenCluster makes a node whose data says it belongs to a
	// cluster of several nodes refuse to start. wharfd sets it when its
	// peer port authenticates no one and --insecure was not given: a
	// member restarted without its key or certificates would otherwise
	// wait forever for peers that refuse it, or serve a cluster open to
	// anyone who reaches its Raft address.
	RefuseOpenCluster bool
	// RaftTransport carries Raft messages between nodes; nil means
	// dragonboat's built-in TCP transport (tests only: it has no peer
	// authentication). wharfd uses transport/raftnet behind
	// transport/peerlink.
	RaftTransport config.TransportFactory
	// ClusterKey is the key every node of the cluster shares
	// (--cluster-key-file). Access-key secrets are sealed with a key
	// derived from it before they are proposed (principals.go); nil: the
	// node cannot create access keys, nor check signatures made with one.
	ClusterKey []byte
	// ConfigureNodeHost, if set, adjusts dragonboat's NodeHost
	// configuration just before the NodeHost starts. nil in production; a
	// simulator sets an in-memory transport (Expert.TransportFactory), a
	// fixed NodeHostID and a smaller engine. Expert.FS is already cfg.FS.
	ConfigureNodeHost func(*config.NodeHostConfig)

	// skipDropLoop keeps the drop loop from running, so that tests can
	// leave a deleted queue's partitions undropped, as a crash would.
	skipDropLoop bool
	// pollInterval overrides the long-poll fallback interval (0: the
	// default), so tests can tell a wake from a timed re-poll.
	pollInterval time.Duration
}

// ErrOpenCluster is Start's error when Config.RefuseOpenCluster refuses a
// member of a cluster of several nodes.
var ErrOpenCluster = errors.New("this node belongs to a cluster of several nodes, which needs node-to-node authentication: " +
	"start it with the cluster's --cluster-key-file or --peer-ca, --peer-cert and --peer-key (or --insecure)")

// DefaultReplicationFactor is ReplicationFactor when the Config leaves it 0.
const DefaultReplicationFactor = 3

// DefaultQueueShards is QueueShards when the Config leaves it 0.
const DefaultQueueShards = 4

// MaxQueueShards bounds QueueShards: each shard is a Raft group and a Pebble
// store with their own goroutines and memory.
const MaxQueueShards = 256

// Node is a running Wharf node. It implements wharfv1.QueueService; errors
// it returns are *core.Error.
type Node struct {
	cfg Config
	log *slog.Logger
	nh  *dragonboat.NodeHost

	// routes says which nodes host each shard, for forwarding.
	routes routeTable
	// qcache holds queue records for the data path (qcache.go).
	qcache queueCache
	// access holds the principals and keys the API door checks
	// (principals.go).
	access accessCache
	// view is the cluster layout last read (see view.go), and viewRead
	// when, in Unix nanoseconds.
	view     atomic.Pointer[raftv1.MetaState]
	viewRead atomic.Int64
	// savedPeers is the content of the peers file last written.
	peersMu    sync.Mutex
	savedPeers []byte

	ids   idSource
	rnd   *lockedRand // seeded from cfg.Rand: see partition.go
	waits *wakeRegistry
	// moverKick wakes the dead-letter mover when a shard's outbox grows.
	moverKick chan struct{}
	// dropKick wakes the drop loop after a DeleteQueue.
	dropKick chan struct{}

	ready  atomic.Bool
	stop   chan struct{} // closed by Close: loops and long polls end
	loops  sync.WaitGroup
	closed sync.Once
}

var _ wharfv1.QueueService = (*Node)(nil)

// Start opens (or creates) the node's data under cfg.DataDir and starts its
// shards. It returns once the node is serving or ctx ends.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	// Drawn before any message id, so that a seeded Config.Rand fixes both.
	rnd, err := newLockedRand(cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("node config: Rand: %w", err)
	}
	n := &Node{
		rnd:       rnd,
		cfg:       cfg,
		log:       cfg.Logger,
		ids:       idSource{r: cfg.Rand},
		waits:     newWakeRegistry(),
		moverKick: make(chan struct{}, 1),
		dropKick:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if err := n.bootstrap(ctx); err != nil {
		if n.nh != nil {
			n.nh.Close()
		}
		return nil, err
	}
	n.startLoops()
	n.ready.Store(true)
	n.log.Info("wharf node started", "node_id", cfg.NodeID, "raft_addr", cfg.RaftAddr,
		"data_dir", cfg.DataDir, "local_queue_shards", len(n.localQueueShards()))
	return n, nil
}

func checkConfig(cfg *Config) error {
	if cfg.NodeID > meta.MaxNodeID {
		return fmt.Errorf("node config: NodeID must be 1 to %d (0: from the data directory), got %d", meta.MaxNodeID, cfg.NodeID)
	}
	if cfg.DataDir == "" {
		return errors.New("node config: DataDir must be set")
	}
	if cfg.RaftAddr == "" {
		return errors.New("node config: RaftAddr must be set")
	}
	if cfg.QueueShards == 0 {
		cfg.QueueShards = DefaultQueueShards
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = DefaultReplicationFactor
	}
	if cfg.ReplicationFactor < 1 || cfg.ReplicationFactor > meta.MaxReplicationFactor {
		return fmt.Errorf("node config: ReplicationFactor must be 1 to 5, got %d", cfg.ReplicationFactor)
	}
	if cfg.QueueShards < 1 || cfg.QueueShards > MaxQueueShards {
		return fmt.Errorf("node config: QueueShards must be 1 to %d, got %d", MaxQueueShards, cfg.QueueShards)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	return nil
}

// nowMs is the proposer's clock in Unix milliseconds.
func (n *Node) nowMs() int64 { return n.cfg.Now().UnixMilli() }

// Ready reports whether the node can serve requests: it has read the
// cluster's layout recently (so it can route), and every replica it runs
// knows a leader.
func (n *Node) Ready() bool {
	if !n.ready.Load() {
		return false
	}
	if time.Since(time.Unix(0, n.viewRead.Load())) > readyViewAge {
		return false
	}
	for id := range n.localReplicas() {
		if !n.hasLeader(id) {
			return false
		}
	}
	return true
}

// readyViewAge is how old the last cluster layout read may be for the node
// to call itself ready: older means it cannot reach the metadata shard.
const readyViewAge = 5 * time.Second

// Close stops the node. In-flight requests fail with Unavailable.
func (n *Node) Close() error {
	n.closed.Do(func() {
		n.ready.Store(false)
		close(n.stop)
		n.loops.Wait()
		n.nh.Close()
		n.log.Info("wharf node stopped", "node_id", n.cfg.NodeID)
	})
	return nil
}

// stopping reports whether Close has begun.
func (n *Node) stopping() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

package node

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/vfs"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	metaShardID       = 1
	firstQueueShardID = 2

	// rttMillis is dragonboat's tick. A follower calls an election after
	// ElectionRTT to 2*ElectionRTT ticks without hearing from its leader
	// (0.5-1 s), and leaders send heartbeats every HeartbeatRTT ticks
	// (100 ms). Request latency does not depend on the tick: entries,
	// commits and read indexes are sent as they happen. The tick was 10 ms
	// with a heartbeat every tick; an idle 3-node cluster (5 shards) then
	// used 17% of a core, against 6% now, and the longest gap between
	// acknowledged sends while a leader is killed stayed about 2 s (the
	// node's retry attempt, not the election, sets it:
	// TestClusterSurvivesKillOfLeader).
	rttMillis    = 50
	electionRTT  = 10
	heartbeatRTT = 2

	metaSnapshotEntries  = 1000
	queueSnapshotEntries = 10000
	compactionOverhead   = 5000

	// maxInMemLog bounds the log entries a replica holds in memory that are
	// not applied yet (dragonboat's MaxInMemLogSize; unbounded by default).
	// Past it the shard refuses proposals as busy, and proposeLocal retries
	// them with backoff: a producer faster than a slow replica is held
	// back instead of growing the heap. The largest proposal, a batch of ten
	// 1 MiB bodies, is a sixth of it.
	maxInMemLog = 64 << 20

	// leaderPoll is how often Start checks whether a shard elected a leader.
	leaderPoll = 10 * time.Millisecond
)

// bootstrap starts the NodeHost and the replicas this node runs. It is
// idempotent across crashes: a node with data restarts what it has; a new
// node either starts a new cluster (a single node is a cluster of one) or
// joins a running one; either way it then registers its API address and
// starts the replicas the metadata shard assigns to it.
func (n *Node) bootstrap(ctx context.Context) error {
	installDragonboatLogger(n.log)
	if err := n.resolveIdentity(); err != nil {
		return err
	}
	nhDir := filepath.Join(n.cfg.DataDir, "raft")
	nhc := config.NodeHostConfig{
		NodeHostDir:    nhDir,
		WALDir:         nhDir,
		RTTMillisecond: rttMillis,
		RaftAddress:    n.cfg.RaftAddr,
		ListenAddress:  n.cfg.RaftListenAddr,
		// tan fsyncs the log before dragonboat acknowledges an entry:
		// that is what makes an acknowledged request durable.
		// tan keeps a write buffer per shard of KVWriteBufferSize bytes
		// (128 MiB by default: 2 GiB per node, slow to allocate). Larger
		// writes just allocate, so the tiny setting (4 MiB) is plenty.
		// stateKeepingFactory (logdb.go) spares tan two needless fsyncs
		// per update.
		Expert: config.ExpertConfig{LogDBFactory: stateKeepingFactory{inner: tan.Factory}, LogDB: config.GetTinyMemLogDBConfig()},
	}
	if n.cfg.FS != vfs.Default {
		// Left unset for the real file system: dragonboat then picks its
		// own default, as it always did.
		nhc.Expert.FS = n.cfg.FS
	}
	if n.cfg.RaftTransport != nil {
		nhc.Expert.TransportFactory = n.cfg.RaftTransport
	}
	if n.cfg.ConfigureNodeHost != nil {
		n.cfg.ConfigureNodeHost(&nhc)
	}
	if err := n.repairRaftLogs(n.cfg.FS, nhDir); err != nil {
		return err
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return fmt.Errorf("start raft node host in %s: %w", nhDir, err)
	}
	n.nh = nh
	peers, err := n.loadPeers()
	if err != nil {
		return err
	}
	if n.cfg.RefuseOpenCluster && len(peers) > 1 {
		return fmt.Errorf("%w: %s lists %d nodes", ErrOpenCluster, filepath.Join(n.cfg.DataDir, peersFile), len(peers))
	}
	n.learnNodes(peers)

	onDisk := nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{}).LogInfo
	newCluster := false
	switch {
	case len(onDisk) > 0:
		if n.cfg.NodeID == 0 {
			return fmt.Errorf("data directory %s holds replicas but no %s: give --node-id", n.cfg.DataDir, identityFile)
		}
		if err := n.saveIdentity(); err != nil {
			return err
		}
		// dragonboat restores each replica's membership from its own log.
		for _, ni := range onDisk {
			if err := n.startReplica(ni.ShardID, ni.ReplicaID, nil, false); err != nil {
				return err
			}
		}
	case n.cfg.Join != "":
		if err := n.join(ctx); err != nil {
			return err
		}
	default:
		members := n.cfg.InitialMembers
		if len(members) == 0 {
			members = map[uint64]string{n.cfg.NodeID: n.cfg.RaftAddr}
		}
		if members[n.cfg.NodeID] != n.cfg.RaftAddr {
			return fmt.Errorf("initial members %v do not give this node (%d) its Raft address %s", members, n.cfg.NodeID, n.cfg.RaftAddr)
		}
		n.log.Info("bootstrapping a new cluster", "members", members)
		if err := n.saveIdentity(); err != nil {
			return err
		}
		// The metadata shard's initial replica ids are the node ids.
		if err := n.startReplica(metaShardID, n.cfg.NodeID, members, false); err != nil {
			return err
		}
		newCluster = true
	}

	if newCluster {
		if err := n.initCluster(ctx); err != nil {
			return err
		}
	}
	if err := n.register(ctx); err != nil {
		return err
	}
	// Start the assigned replicas before serving, so that a single node is
	// ready when Start returns. Each attempt reads the metadata shard with
	// a short deadline; a slow read (a leader being elected while nodes
	// restart) is tried again, until ctx ends, rather than failing the
	// start (seen in the Jepsen suite on a restart).
	for {
		err := n.reconcile(ctx)
		if err == nil {
			break
		}
		if code := core.CodeOf(err); code != core.Unavailable && code != core.DeadlineExceeded || ctx.Err() != nil {
			return fmt.Errorf("start assigned replicas: %w", err)
		}
		n.log.Info("metadata not readable yet; trying again", "err", err)
		if !sleep(ctx, n.stop, 500*time.Millisecond) {
			return fmt.Errorf("start assigned replicas: %w", err)
		}
	}
	for _, id := range n.localQueueShards() {
		if err := n.waitLeader(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// initCluster proposes InitCluster, which registers the initial nodes and
// places the queue shards. Every initial member proposes it; it applies once.
func (n *Node) initCluster(ctx context.Context) error {
	members := n.cfg.InitialMembers
	if len(members) == 0 {
		members = map[uint64]string{n.cfg.NodeID: n.cfg.RaftAddr}
	}
	init := &raftv1.InitCluster{QueueShards: int32(n.cfg.QueueShards), ReplicationFactor: int32(n.cfg.ReplicationFactor)}
	for _, id := range slices.Sorted(maps.Keys(members)) {
		init.Nodes = append(init.Nodes, &raftv1.NodeRecord{NodeId: id, RaftAddr: members[id]})
	}
	return n.proposeMetaRetrying(ctx, "initialize the cluster", &raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: init}})
}

// register records this node's addresses in the metadata shard, so other
// nodes can forward to it. Idempotent: a restart re-registers.
func (n *Node) register(ctx context.Context) error {
	rec := &raftv1.NodeRecord{NodeId: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr, ApiAddr: n.cfg.APIAddr}
	return n.proposeMetaRetrying(ctx, "register this node", &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddNode{AddNode: &raftv1.AddNode{Node: rec}}})
}

// proposeMetaRetrying proposes a metadata command that is safe to repeat,
// retrying while the metadata shard is unreachable (it is electing its
// first leader while the other initial members start), until ctx ends.
func (n *Node) proposeMetaRetrying(ctx context.Context, what string, cmd *raftv1.MetaCommand) error {
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := n.proposeMeta(c, cmd)
		cancel()
		if err == nil {
			if err := statusError(res.GetStatus()); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		if code := core.CodeOf(err); code != core.Unavailable && code != core.DeadlineExceeded {
			return fmt.Errorf("%s: %w", what, err)
		}
		n.log.Info("waiting for the metadata shard", "step", what, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// raftConfig is the Raft configuration of one shard.
func (n *Node) raftConfig(shardID uint64) config.Config {
	entries, overhead := uint64(queueSnapshotEntries), uint64(compactionOverhead)
	if shardID == metaShardID {
		entries = metaSnapshotEntries
	}
	if n.cfg.SnapshotEntries > 0 {
		entries = n.cfg.SnapshotEntries
		// Keep less log than one snapshot interval, so that a small
		// setting really makes restarts go through snapshots.
		overhead = min(overhead, max(entries/2, 1))
	}
	return config.Config{
		ReplicaID:    n.cfg.NodeID,
		ShardID:      shardID,
		ElectionRTT:  electionRTT,
		HeartbeatRTT: heartbeatRTT,
		CheckQuorum:  true,
		// A replica cut off from the others cannot disrupt the cluster with
		// elections it cannot win once it is back.
		PreVote:            true,
		SnapshotEntries:    entries,
		CompactionOverhead: overhead,
		MaxInMemLogSize:    maxInMemLog,
	}
}

// waitLeader waits until the shard has a leader, or ctx ends.
func (n *Node) waitLeader(ctx context.Context, shardID uint64) error {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		if n.hasLeader(shardID) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for a leader of shard %d: %w", shardID, ctx.Err())
		case <-t.C:
		}
	}
}

// hasLeader reports whether this node knows a leader of the shard.
func (n *Node) hasLeader(shardID uint64) bool {
	_, _, ok, err := n.nh.GetLeaderID(shardID)
	return err == nil && ok
}

// leads reports whether this node is the shard's leader; the background
// loops only work on shards led here, so one node does each job. Replica
// ids differ from the node id in queue shards, so the leader is compared
// with the replica this node runs.
func (n *Node) leads(shardID uint64) bool {
	id, _, ok, err := n.nh.GetLeaderID(shardID)
	if err != nil || !ok {
		return false
	}
	u, err := n.nh.GetNodeUser(shardID)
	return err == nil && id == u.ReplicaID()
}

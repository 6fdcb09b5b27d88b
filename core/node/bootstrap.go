package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

const (
	metaShardID       = 1
	firstQueueShardID = 2

	// rttMillis is dragonboat's tick. Elections take ElectionRTT ticks, so
	// a single node elects itself in about 100-200 ms and a cluster on a
	// LAN notices a dead leader within a few hundred.
	rttMillis    = 10
	electionRTT  = 10
	heartbeatRTT = 1

	metaSnapshotEntries  = 1000
	queueSnapshotEntries = 10000
	compactionOverhead   = 5000

	// leaderPoll is how often Start checks whether a shard elected a leader.
	leaderPoll = 10 * time.Millisecond
)

// bootstrap starts the NodeHost and every shard. It is idempotent across
// crashes: each step checks what a previous run already did, so the node
// persists nothing of its own besides dragonboat's and the shards' data.
func (n *Node) bootstrap(ctx context.Context) error {
	installDragonboatLogger(n.log)
	nhDir := filepath.Join(n.cfg.DataDir, "raft")
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir:    nhDir,
		WALDir:         nhDir,
		RTTMillisecond: rttMillis,
		RaftAddress:    n.cfg.RaftAddr,
		// tan fsyncs the log before dragonboat acknowledges an entry:
		// that is what makes an acknowledged request durable.
		// tan keeps a write buffer per shard of KVWriteBufferSize bytes
		// (128 MiB by default: 2 GiB per node, slow to allocate). Larger
		// writes just allocate, so the tiny setting (4 MiB) is plenty.
		Expert: config.ExpertConfig{LogDBFactory: tan.Factory, LogDB: config.GetTinyMemLogDBConfig()},
	})
	if err != nil {
		return fmt.Errorf("start raft node host in %s: %w", nhDir, err)
	}
	n.nh = nh

	// The metadata shard. A node that has never run it bootstraps it with
	// itself as the only member; otherwise dragonboat restores the
	// membership from its own storage.
	members := map[uint64]dragonboat.Target{}
	if !nh.HasNodeInfo(metaShardID, n.cfg.NodeID) {
		members[n.cfg.NodeID] = n.cfg.RaftAddr
		n.log.Info("bootstrapping a new single-node cluster", "raft_addr", n.cfg.RaftAddr)
	}
	createMeta := func(uint64, uint64) sm.IStateMachine { return shard.NewMetaSM() }
	if err := nh.StartReplica(members, false, createMeta, n.raftConfig(metaShardID)); err != nil {
		return fmt.Errorf("start metadata shard: %w", err)
	}
	if err := n.waitLeader(ctx, metaShardID); err != nil {
		return err
	}

	shards, err := n.readShards(ctx)
	if err != nil {
		return fmt.Errorf("read queue shards: %w", err)
	}
	if len(shards) == 0 {
		// A new cluster (or one that crashed before registering them).
		if shards, err = n.registerQueueShards(ctx); err != nil {
			return err
		}
	}
	for _, rec := range shards {
		if err := n.startQueueShard(rec); err != nil {
			return err
		}
		n.queueShards = append(n.queueShards, rec.GetShardId())
	}
	for _, id := range n.queueShards {
		if err := n.waitLeader(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// registerQueueShards initializes the new single-node cluster in the
// metadata shard (this node, its queue shards) and returns the queue shards
// as registered. InitCluster applies once, so a crash before it is read
// back only repeats it.
func (n *Node) registerQueueShards(ctx context.Context) ([]*raftv1.ShardRecord, error) {
	initCluster := &raftv1.InitCluster{
		Nodes:       []*raftv1.NodeRecord{{NodeId: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr}},
		QueueShards: int32(n.cfg.QueueShards),
		// A single node holds one replica of each shard whatever the
		// factor. A cluster grown from it keeps 1, as nothing changes
		// the factor after InitCluster yet.
		ReplicationFactor: 1,
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_InitCluster{InitCluster: initCluster}})
	if err != nil {
		return nil, fmt.Errorf("initialize the cluster: %w", err)
	}
	if err := statusError(res.GetStatus()); err != nil {
		return nil, fmt.Errorf("initialize the cluster: %w", err)
	}
	shards, err := n.readShards(ctx)
	if err != nil {
		return nil, fmt.Errorf("read queue shards: %w", err)
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("initialize the cluster: metadata shard holds no queue shards after InitCluster")
	}
	return shards, nil
}

// startQueueShard starts this node's replica of a queue shard, with the
// replica id the metadata shard gave it. A replica that ran before restarts
// from its own storage; a new initial one starts with the shard's initial
// members, a new added one joins.
func (n *Node) startQueueShard(rec *raftv1.ShardRecord) error {
	id := rec.GetShardId()
	var mine *raftv1.Replica
	for _, r := range rec.GetReplicaSet() {
		if r.GetNodeId() == n.cfg.NodeID {
			mine = r
		}
	}
	if mine == nil {
		return fmt.Errorf("start queue shard %d: node %d holds none of its replicas %v", id, n.cfg.NodeID, rec.GetReplicaSet())
	}
	// Dragonboat wants a restart with no members and join false, whatever
	// the first start was.
	members := map[uint64]dragonboat.Target{}
	restart := n.nh.HasNodeInfo(id, mine.GetReplicaId())
	// Before replica ids were allocated, a queue shard's replica was
	// numbered like its node; such data is not migrated, and starting a
	// second replica over its directory would corrupt it.
	if !restart && n.nh.HasNodeInfo(id, n.cfg.NodeID) {
		return fmt.Errorf("start queue shard %d: %s holds data from an older version (replica %d); it cannot be upgraded",
			id, n.cfg.DataDir, n.cfg.NodeID)
	}
	join := !restart && !mine.GetInitial()
	if !restart && !join {
		for _, r := range rec.GetReplicaSet() {
			if !r.GetInitial() {
				continue
			}
			// The single-node bootstrap knows only its own address;
			// starting replicas with other nodes needs their records.
			if r.GetNodeId() != n.cfg.NodeID {
				return fmt.Errorf("start queue shard %d: initial replica %d is on node %d, not this node", id, r.GetReplicaId(), r.GetNodeId())
			}
			members[r.GetReplicaId()] = n.cfg.RaftAddr
		}
	}
	dir := filepath.Join(n.cfg.DataDir, "queue", strconv.FormatUint(id, 10))
	hooks := shard.QueueHooks{Woken: n.onWoken, Outbox: n.onOutbox}
	create := func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
		return shard.NewQueueSM(shard.QueueConfig{
			ShardID: shardID, ReplicaID: replicaID, Dir: dir, Hooks: hooks, Logger: n.log,
		})
	}
	cfg := n.raftConfig(id)
	cfg.ReplicaID = mine.GetReplicaId()
	if err := n.nh.StartOnDiskReplica(members, join, create, cfg); err != nil {
		return fmt.Errorf("start queue shard %d: %w", id, err)
	}
	return nil
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

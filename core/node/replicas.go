package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	pebblevfs "github.com/cockroachdb/pebble/vfs"
	"github.com/lni/dragonboat/v4"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/lni/vfs"

	"github.com/wharfmq/wharf/core/kv"
	"github.com/wharfmq/wharf/core/shard"
)

// Replicas start and stop while the node runs: the reconcile loop starts
// those the metadata shard assigns to this node and stops those moved away.
// dragonboat runs at most one replica of a shard per NodeHost, and is the
// record of which run here.

// startReplica starts this node's replica of a shard. members are the
// shard's initial members (replica id to Raft address) for an initial
// replica that never ran; join starts a replica added to a running shard;
// neither restarts one from its own storage.
func (n *Node) startReplica(shardID, replicaID uint64, members map[uint64]string, join bool) error {
	targets := map[uint64]dragonboat.Target{}
	for id, addr := range members {
		targets[id] = addr
	}
	cfg := n.raftConfig(shardID)
	cfg.ReplicaID = replicaID
	var err error
	if shardID == metaShardID {
		create := func(uint64, uint64) sm.IStateMachine { return shard.NewMetaSMWithHook(n.onMetaApplied) }
		err = n.nh.StartReplica(targets, join, create, cfg)
	} else {
		dir := n.queueShardDir(shardID)
		hooks := shard.QueueHooks{Woken: n.onWoken, Outbox: n.onOutbox}
		var fs pebblevfs.FS // nil: Pebble's own view of the real file system
		if n.cfg.FS != vfs.Default {
			fs = kv.PebbleFS(n.cfg.FS)
		}
		create := func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
			return shard.NewQueueSM(shard.QueueConfig{
				ShardID: shardID, ReplicaID: replicaID, Dir: dir, FS: fs, Hooks: hooks, Logger: n.log,
			})
		}
		err = n.nh.StartOnDiskReplica(targets, join, create, cfg)
	}
	if errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start replica %d of shard %d: %w", replicaID, shardID, err)
	}
	n.log.Info("replica started", "shard", shardID, "replica", replicaID, "join", join, "initial", len(members) > 0)
	return nil
}

// removeReplica stops this node's replica of a shard and deletes its data:
// Raft log and state machine.
func (n *Node) removeReplica(ctx context.Context, shardID, replicaID uint64) error {
	if err := n.nh.StopReplica(shardID, replicaID); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		return fmt.Errorf("stop replica %d of shard %d: %w", replicaID, shardID, err)
	}
	if err := n.nh.SyncRemoveData(ctx, shardID, replicaID); err != nil {
		return fmt.Errorf("remove data of replica %d of shard %d: %w", replicaID, shardID, err)
	}
	if shardID != metaShardID {
		if err := n.dropShardStore(shardID); err != nil {
			return err
		}
	}
	n.log.Info("replica removed", "shard", shardID, "replica", replicaID)
	return nil
}

// dropShardStore deletes the state machine store of a queue shard on this
// node, durably (its parent directory is synced), if there is one. The
// shard must have no running replica here.
func (n *Node) dropShardStore(shardID uint64) error {
	dir := n.queueShardDir(shardID)
	if !exists(n.cfg.FS, dir) {
		return nil
	}
	if err := n.cfg.FS.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the store of shard %d: %w", shardID, err)
	}
	if err := syncDir(n.cfg.FS, n.cfg.FS.PathDir(dir)); err != nil {
		return fmt.Errorf("remove the store of shard %d: %w", shardID, err)
	}
	n.log.Info("removed the store of an earlier replica", "shard", shardID, "dir", dir)
	return nil
}

func (n *Node) queueShardDir(shardID uint64) string {
	return filepath.Join(n.cfg.DataDir, "queue", strconv.FormatUint(shardID, 10))
}

// localReplicas returns shard id to replica id for every replica running
// on this node.
func (n *Node) localReplicas() map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, si := range n.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true}).ShardInfoList {
		out[si.ShardID] = si.ReplicaID
	}
	return out
}

// localQueueShards returns the queue shards with a replica here, in order.
func (n *Node) localQueueShards() []uint64 {
	var ids []uint64
	for id := range n.localReplicas() {
		if id != metaShardID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// localMembership returns the Raft membership of a local replica's shard as
// this replica knows it; ok is false when no replica of it runs here.
func (n *Node) localMembership(shardID uint64) (members map[uint64]string, ok bool) {
	for _, si := range n.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true}).ShardInfoList {
		if si.ShardID == shardID {
			return si.Replicas, true
		}
	}
	return nil, false
}

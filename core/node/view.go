package node

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/shard"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// The cluster view is the layout last read from the metadata shard. The
// membership loop works from it; a stale view only delays it by a round.

// learnCluster records a layout read from the metadata shard: the routes
// and the view both come from it, so they never disagree.
func (n *Node) learnCluster(c *raftv1.MetaState) {
	n.routes.update(c)
	n.view.Store(c)
	n.viewRead.Store(time.Now().UnixNano())
}

// clusterView returns the last layout read; nil before the first read.
func (n *Node) clusterView() *raftv1.MetaState { return n.view.Load() }

// peersFile keeps the other nodes' peer (Raft) addresses across restarts:
// a node that hosts no metadata replica reaches the metadata shard through
// them.
const peersFile = "peers.json"

// savedPeer is an entry of the peers file. Files written before NodeService
// moved to the peer port hold only api_addr: such entries are skipped, and
// the node learns the addresses again from the metadata shard.
type savedPeer struct {
	NodeID   uint64 `json:"node_id"`
	RaftAddr string `json:"raft_addr,omitempty"`
}

// savePeers writes the nodes' peer addresses when they changed.
func (n *Node) savePeers(recs []*raftv1.NodeRecord) error {
	var peers []savedPeer
	for _, r := range recs {
		if r.GetRaftAddr() != "" {
			peers = append(peers, savedPeer{r.GetNodeId(), r.GetRaftAddr()})
		}
	}
	b, err := json.MarshalIndent(peers, "", "  ")
	if err != nil {
		return err
	}
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	if slices.Equal(b, n.savedPeers) {
		return nil
	}
	if err := writeFileAtomic(n.cfg.FS, filepath.Join(n.cfg.DataDir, peersFile), b); err != nil {
		return err
	}
	n.savedPeers = b
	return nil
}

// loadPeers reads the saved peer addresses; none if there is no file.
func (n *Node) loadPeers() ([]*raftv1.NodeRecord, error) {
	b, ok, err := readFile(n.cfg.FS, filepath.Join(n.cfg.DataDir, peersFile))
	if err != nil || !ok {
		return nil, err
	}
	var peers []savedPeer
	if err := json.Unmarshal(b, &peers); err != nil {
		return nil, fmt.Errorf("parse %s: %w", peersFile, err)
	}
	var recs []*raftv1.NodeRecord
	for _, p := range peers {
		if p.RaftAddr != "" {
			recs = append(recs, &raftv1.NodeRecord{NodeId: p.NodeID, RaftAddr: p.RaftAddr})
		}
	}
	return recs, nil
}

// nodeStatus returns the replicas of one node, this one included.
func (n *Node) nodeStatus(ctx context.Context, nodeID uint64) ([]*nodev1.ReplicaStatus, error) {
	if nodeID == n.cfg.NodeID {
		return n.localStatus(), nil
	}
	if n.cfg.Peers == nil {
		return nil, core.Errorf(core.Unavailable, "no peer transport to reach node %d", nodeID)
	}
	addr := n.routes.addr(nodeID)
	if addr == "" {
		return nil, core.Errorf(core.Unavailable, "node %d has no known peer address", nodeID)
	}
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return n.cfg.Peers.Status(c, Peer{ID: nodeID, RaftAddr: addr})
}

// clusterStatuses asks every node for its replicas, concurrently; nodes
// that do not answer are missing from the result.
func (n *Node) clusterStatuses(ctx context.Context, nodes []*raftv1.NodeRecord) map[uint64][]*nodev1.ReplicaStatus {
	out := map[uint64][]*nodev1.ReplicaStatus{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rec := range nodes {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			st, err := n.nodeStatus(ctx, id)
			if err != nil {
				return
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		}(rec.GetNodeId())
	}
	wg.Wait()
	return out
}

// partitionsPerShard reads how many queue partitions each shard holds.
func (n *Node) partitionsPerShard(ctx context.Context) (map[uint64]int32, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaPartitionsPerShardQuery{})
	if err != nil {
		return nil, err
	}
	counts, ok := v.(map[uint64]int)
	if !ok {
		return nil, core.Errorf(core.Internal, "partitions per shard lookup returned %T", v)
	}
	out := map[uint64]int32{}
	for id, c := range counts {
		out[id] = int32(c)
	}
	return out, nil
}

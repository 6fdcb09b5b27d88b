package node

import (
	"context"
	"slices"
	"sync"
	"time"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// minRouteRefresh is the least time between two reads of the routes from
// the metadata shard. Refreshes happen when no known node could serve a
// shard; while a shard is down, that is every request, and one read per
// interval is enough to notice its replicas moved.
const minRouteRefresh = 200 * time.Millisecond

// routeTable is what the node knows of where the shards' replicas are: the
// node records and each shard's desired replicas, from the metadata shard,
// and which node last served each shard. It is only a hint: a node that no
// longer hosts a replica answers unavailable and the next one is tried, so
// a stale table costs a round trip, never a wrong answer.
type routeTable struct {
	mu sync.Mutex
	// addrs maps node ids to peer (Raft) addresses.
	addrs map[uint64]string
	// hosts maps shard ids to the nodes of their desired replicas, in
	// replica id order.
	hosts map[uint64][]uint64
	// preferred maps shard ids to the node that last served them: trying
	// it first keeps a node's traffic for a shard on one peer.
	preferred map[uint64]uint64
	// refreshed is when the table was last read from the metadata shard.
	refreshed time.Time

	// refreshing is held while one request reads the metadata shard for
	// the table; the others go on with what they have.
	refreshing sync.Mutex
}

// update replaces the table's nodes and shards with the cluster layout read
// from the metadata shard (a MetaState as the MetaClusterQuery returns).
func (t *routeTable) update(cluster *raftv1.MetaState) {
	addrs := make(map[uint64]string, len(cluster.GetNodes()))
	for _, rec := range cluster.GetNodes() {
		if rec.GetRaftAddr() != "" {
			addrs[rec.GetNodeId()] = rec.GetRaftAddr()
		}
	}
	hosts := make(map[uint64][]uint64, len(cluster.GetShards()))
	for _, sh := range cluster.GetShards() {
		for _, r := range sh.GetReplicaSet() {
			hosts[sh.GetShardId()] = append(hosts[sh.GetShardId()], r.GetNodeId())
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addrs, t.hosts = addrs, hosts
	t.refreshed = time.Now()
}

// learnNodes adds or replaces node records without forgetting others: for
// what a node learns before it can read the metadata shard (the members a
// join returns).
func (t *routeTable) learnNodes(recs []*raftv1.NodeRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.addrs == nil {
		t.addrs = make(map[uint64]string, len(recs))
	}
	for _, rec := range recs {
		if rec.GetRaftAddr() != "" {
			t.addrs[rec.GetNodeId()] = rec.GetRaftAddr()
		}
	}
}

// candidates returns the other nodes to try for the shard, best first: the
// one that last served it, then its replicas' nodes. For the metadata shard
// every other known node follows, because a node that hosts no replica of
// it may not know where its replicas are: that is in the metadata shard.
func (t *routeTable) candidates(shardID, self uint64) []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := slices.Clone(t.hosts[shardID])
	if shardID == metaShardID {
		var others []uint64
		for id := range t.addrs {
			if !slices.Contains(ids, id) {
				others = append(others, id)
			}
		}
		slices.Sort(others)
		ids = append(ids, others...)
	}
	if p, ok := t.preferred[shardID]; ok {
		if i := slices.Index(ids, p); i > 0 {
			ids = slices.Insert(slices.Delete(ids, i, i+1), 0, p)
		}
	}
	out := make([]Peer, 0, len(ids))
	for _, id := range ids {
		if addr, ok := t.addrs[id]; ok && id != self {
			out = append(out, Peer{ID: id, RaftAddr: addr})
		}
	}
	return out
}

// worked records that the node served the shard.
func (t *routeTable) worked(shardID, nodeID uint64) {
	if nodeID == 0 {
		return // a seed address, not a known node
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.preferred == nil {
		t.preferred = make(map[uint64]uint64)
	}
	t.preferred[shardID] = nodeID
}

// learnNodes adds node records to the routing table: what a node knows of
// the others before it can read the metadata shard (a join's members).
func (n *Node) learnNodes(recs []*raftv1.NodeRecord) {
	n.routes.learnNodes(recs)
}

// refreshRoutes reads the cluster layout from the metadata shard into the
// routing table. It reports whether it did: it does not when another
// request is refreshing or did within minRouteRefresh, or for the metadata
// shard's own routes (reading them needs them; they fall back to every
// known node instead).
func (n *Node) refreshRoutes(ctx context.Context, shardID uint64) bool {
	if shardID == metaShardID || !n.routes.refreshing.TryLock() {
		return false
	}
	defer n.routes.refreshing.Unlock()
	n.routes.mu.Lock()
	recent := time.Since(n.routes.refreshed) < minRouteRefresh
	n.routes.mu.Unlock()
	if recent {
		return false
	}
	cluster, err := n.readCluster(ctx)
	if err != nil {
		n.log.Debug("refresh routes from the metadata shard", "err", err)
		return false
	}
	n.learnCluster(cluster)
	return true
}

// addr returns a node's peer (Raft) address; empty when unknown.
func (t *routeTable) addr(nodeID uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addrs[nodeID]
}

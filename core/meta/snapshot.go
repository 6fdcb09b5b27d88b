package meta

import (
	"fmt"
	"slices"
	"sort"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// Marshal encodes the state deterministically, for snapshots.
func (s *State) Marshal() ([]byte, error) {
	st := &raftv1.MetaState{
		NextId:  s.nextID,
		ClockMs: s.clock,
		Queues:  make([]*raftv1.QueueRecord, 0, len(s.names)),
		Shards:  s.shards,
		// Already in partition id order.
		PendingDrops:      s.pending,
		Nodes:             s.nodes,
		NextReplicaId:     s.nextReplicaID,
		ReplicationFactor: s.replicationFactor,
		Principals:        s.Principals(),
	}
	for _, name := range s.names {
		st.Queues = append(st.Queues, s.queues[name])
	}
	// Every slice is kept sorted, so the bytes depend only on the state.
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("meta: marshal state: %w", err)
	}
	return data, nil
}

// Unmarshal replaces the state with a snapshot made by Marshal. On error the
// state is unchanged.
func (s *State) Unmarshal(data []byte) error {
	var st raftv1.MetaState
	if err := proto.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("meta: unmarshal state: %w", err)
	}
	next := New()
	next.maxQueues = s.maxQueues
	next.nextID = st.GetNextId()
	next.clock = st.GetClockMs()
	if next.nextID == 0 {
		return fmt.Errorf("meta: unmarshal state: next_id is 0")
	}
	next.nextReplicaID = st.GetNextReplicaId()
	next.replicationFactor = st.GetReplicationFactor()
	for _, sh := range st.GetShards() {
		if next.Shard(sh.GetShardId()) != nil {
			return fmt.Errorf("meta: unmarshal state: shard %d appears twice", sh.GetShardId())
		}
		next.putShard(sh)
	}
	nodes := st.GetNodes()
	slices.SortFunc(nodes, cmpNodes)
	for i, n := range nodes {
		if id := n.GetNodeId(); id < 1 || id > MaxNodeID {
			return fmt.Errorf("meta: unmarshal state: nodes[%d].node_id: must be 1 to %d, got %d", i, MaxNodeID, id)
		}
		if i > 0 && nodes[i-1].GetNodeId() == n.GetNodeId() {
			return fmt.Errorf("meta: unmarshal state: node %d appears twice", n.GetNodeId())
		}
	}
	// InitCluster registers the metadata shard and its nodes together,
	// and the last node cannot be forgotten (it holds the metadata
	// shard's last replica): AddNode relies on it, picking a new node's
	// id after the last one's.
	if next.Shard(MetaShardID) != nil && len(nodes) == 0 {
		return fmt.Errorf("meta: unmarshal state: nodes: the cluster is initialized (shard %d is registered) but no node is", MetaShardID)
	}
	next.nodes = nodes
	// A partition id names one partition, of one live queue or one
	// pending drop: DeleteQueue moves a queue's partitions to the pending
	// drops, which must then hold each once.
	partitions := map[uint64]bool{}
	partition := func(field string, pl *raftv1.Placement) error {
		id := pl.GetPartitionId()
		switch {
		case id == 0:
			return fmt.Errorf("meta: unmarshal state: %s.partition_id: must not be 0", field)
		case id >= next.nextID:
			return fmt.Errorf("meta: unmarshal state: %s.partition_id: %d is not below next_id %d", field, id, next.nextID)
		case partitions[id]:
			return fmt.Errorf("meta: unmarshal state: %s: partition %d appears twice", field, id)
		}
		partitions[id] = true
		return nil
	}
	queueIDs := map[uint64]bool{}
	// Sorting once and building names directly avoids the quadratic cost of
	// inserting names one by one.
	queues := st.GetQueues()
	sort.Slice(queues, func(i, j int) bool { return queues[i].GetName() < queues[j].GetName() })
	for i, rec := range queues {
		if i > 0 && queues[i-1].GetName() == rec.GetName() {
			return fmt.Errorf("meta: unmarshal state: queue %q appears twice", rec.GetName())
		}
		// Queue and partition ids come from next_id: one at or above it
		// would be handed out again.
		id := rec.GetQueueId()
		switch {
		case id == 0 || id >= next.nextID:
			return fmt.Errorf("meta: unmarshal state: queue %q queue_id: %d is not between 1 and next_id %d", rec.GetName(), id, next.nextID)
		case queueIDs[id]:
			return fmt.Errorf("meta: unmarshal state: queue %q queue_id: %d is another queue's too", rec.GetName(), id)
		}
		queueIDs[id] = true
		next.queues[rec.GetName()] = rec
		next.names = append(next.names, rec.GetName())
		for j, p := range rec.GetPartitions() {
			if err := partition(fmt.Sprintf("queue %q partitions[%d]", rec.GetName(), j), p); err != nil {
				return err
			}
			next.load[p.GetShardId()]++
		}
	}
	// Snapshots from before pending drops were recorded have none.
	pending := st.GetPendingDrops()
	sort.Slice(pending, func(i, j int) bool { return pending[i].GetPartitionId() < pending[j].GetPartitionId() })
	for i, pl := range pending {
		if err := partition(fmt.Sprintf("pending_drops[%d]", i), pl); err != nil {
			return err
		}
	}
	next.pending = pending
	if res := next.restorePrincipals(st.GetPrincipals()); res != nil {
		return fmt.Errorf("meta: unmarshal state: %s", res.GetStatus().GetMessage())
	}
	*s = *next
	return nil
}

// Package placement is the policy the metadata leader runs to converge the
// cluster's replicas: it drains DRAINING nodes, keeps every shard at its
// desired replica count, balances replicas across ACTIVE nodes and forgets
// drained nodes. It is pure: Next reads a snapshot of the metadata layout
// and returns the one move to make next.
//
// One move at a time, cluster-wide: a replica is added, and nothing else
// moves until it has caught up; only then is a surplus replica removed. So a
// shard never has fewer replicas than it wants, and a slow or failed move
// cannot pile further moves on top of itself.
package placement

import (
	"fmt"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Kind is what an Action does.
type Kind int

const (
	// None: nothing to do now (converged, or waiting for a replica to
	// catch up).
	None Kind = iota
	// AddReplica adds a replica of ShardID on NodeID.
	AddReplica
	// RemoveReplica removes replica ReplicaID (on NodeID) of ShardID.
	RemoveReplica
	// ForgetNode forgets the drained node NodeID.
	ForgetNode
)

func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case AddReplica:
		return "add-replica"
	case RemoveReplica:
		return "remove-replica"
	case ForgetNode:
		return "forget-node"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Action is one move. Version is the shard's version the move was planned
// against, so the metadata shard refuses it if the shard changed since.
type Action struct {
	Kind      Kind
	ShardID   uint64
	NodeID    uint64
	ReplicaID uint64
	Version   uint64
}

func (a Action) String() string {
	switch a.Kind {
	case AddReplica:
		return fmt.Sprintf("add a replica of shard %d on node %d (version %d)", a.ShardID, a.NodeID, a.Version)
	case RemoveReplica:
		return fmt.Sprintf("remove replica %d of shard %d from node %d (version %d)", a.ReplicaID, a.ShardID, a.NodeID, a.Version)
	case ForgetNode:
		return fmt.Sprintf("forget node %d", a.NodeID)
	}
	return a.Kind.String()
}

// Command returns the metadata command that makes the move, without now_ms
// (the proposer stamps it); nil for None.
func (a Action) Command() *raftv1.MetaCommand {
	switch a.Kind {
	case AddReplica:
		return &raftv1.MetaCommand{Op: &raftv1.MetaCommand_AddReplica{AddReplica: &raftv1.AddReplica{
			ShardId: a.ShardID, NodeId: a.NodeID, ExpectedVersion: a.Version,
		}}}
	case RemoveReplica:
		return &raftv1.MetaCommand{Op: &raftv1.MetaCommand_RemoveReplica{RemoveReplica: &raftv1.RemoveReplica{
			ShardId: a.ShardID, ReplicaId: a.ReplicaID, ExpectedVersion: a.Version,
		}}}
	case ForgetNode:
		return &raftv1.MetaCommand{Op: &raftv1.MetaCommand_ForgetNode{ForgetNode: &raftv1.ForgetNode{NodeId: a.NodeID}}}
	}
	return nil
}

// Next returns the next move for the layout in st (nodes, shards and
// replication factor, as meta.State.Cluster gives them), or an Action of
// Kind None.
//
// caughtUp reports whether a replica has joined its shard's Raft membership
// and caught up with its log; it must say false until both hold. nil
// counts every replica as caught up. It is asked only about replicas added
// after their shard started, on ACTIVE nodes: initial replicas started
// together, and a replica on a DRAINING node is leaving anyway (waiting for
// it would let a dead node block its own drain).
//
// The moves, first that applies wins, shards in id order:
//  1. wait while an added replica has not caught up;
//  2. remove a surplus replica: from a shard with more replicas than
//     desired, or one on a DRAINING node once the shard has its desired
//     count on ACTIVE nodes; replicas on DRAINING nodes go first, then the
//     one on the most loaded node;
//  3. add a replica to a shard with fewer than desired on ACTIVE nodes, on
//     the least loaded ACTIVE node without one;
//  4. balance: when the most loaded ACTIVE node holds at least two more
//     replicas than the least loaded, add one of its shards to the least
//     loaded node (step 2 then removes the surplus from the most loaded);
//  5. forget a DRAINING node that holds no replica.
//
// Desired replica counts: the metadata shard min(3, ACTIVE nodes), queue
// shards min(replication factor, ACTIVE nodes).
func Next(st *raftv1.MetaState, caughtUp func(shardID, replicaID uint64) bool) Action {
	v := newView(st)
	if len(v.active) == 0 {
		// Nowhere to put anything; meta refuses to drain the last node.
		return Action{}
	}
	if v.waiting(caughtUp) {
		return Action{}
	}
	for _, step := range []func() (Action, bool){v.shrink, v.grow, v.balance, v.forget} {
		if a, ok := step(); ok {
			return a
		}
	}
	return Action{}
}

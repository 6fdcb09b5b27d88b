// Package meta is the metadata state machine: queues, their attributes, the
// placement of queue partitions on queue shards, and the cluster's desired
// layout (nodes, and the replicas of every shard). It is pure: Apply takes
// time only from the command.
package meta

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// State is the whole metadata state, held in memory (it is small: one record
// per queue, per shard and per node).
//
// Stored records are never modified once stored: an update stores a new
// record. That is what makes it safe for Queue, Shards, Nodes and the like
// to hand out shared pointers.
type State struct {
	nextID uint64
	clock  int64

	// nodes is sorted by node id.
	nodes []*raftv1.NodeRecord
	// nextReplicaID is the next replica id to hand out, in any shard.
	nextReplicaID uint64
	// replicationFactor is the replicas per queue shard InitCluster asked.
	replicationFactor int32

	queues map[string]*raftv1.QueueRecord
	// names holds the keys of queues in byte order, so that List and Marshal
	// never depend on map iteration order.
	names []string

	// shards is sorted by shard id; the metadata shard, once registered,
	// is the first.
	shards []*raftv1.ShardRecord
	// load counts the partitions placed on each queue shard, for placement.
	load map[uint64]int

	// pending holds the partitions of deleted queues that their queue
	// shards have not yet confirmed dropping, sorted by partition id.
	pending []*raftv1.Placement

	// principals holds who may use the cluster (principals.go), by name;
	// principalNames their names in order, keyOwner each access key's
	// principal.
	principals     map[string]*raftv1.PrincipalRecord
	principalNames []string
	keyOwner       map[string]string

	// maxQueues is core.MaxQueues; tests lower it.
	maxQueues int
}

// New returns an empty State.
func New() *State {
	return &State{
		nextID:    1,
		queues:    make(map[string]*raftv1.QueueRecord),
		load:      make(map[uint64]int),
		maxQueues: core.MaxQueues,
	}
}

// Apply applies cmd and returns its result. It never fails: semantic errors
// are in the result's status.
func (s *State) Apply(cmd *raftv1.MetaCommand) *raftv1.MetaResult {
	// Time is monotonic per shard whatever the proposers' clocks do.
	if now := cmd.GetNowMs(); now > s.clock {
		s.clock = now
	}
	switch op := cmd.GetOp().(type) {
	case *raftv1.MetaCommand_CreateQueue:
		return s.createQueue(op.CreateQueue)
	case *raftv1.MetaCommand_UpdateQueue:
		return s.updateQueue(op.UpdateQueue)
	case *raftv1.MetaCommand_DeleteQueue:
		return s.deleteQueue(op.DeleteQueue)
	case *raftv1.MetaCommand_AckDrops:
		return s.ackDrops(op.AckDrops)
	case *raftv1.MetaCommand_InitCluster:
		return s.initCluster(op.InitCluster)
	case *raftv1.MetaCommand_AddNode:
		return s.addNode(op.AddNode)
	case *raftv1.MetaCommand_RemoveNode:
		return s.removeNode(op.RemoveNode)
	case *raftv1.MetaCommand_ForgetNode:
		return s.forgetNode(op.ForgetNode)
	case *raftv1.MetaCommand_AddReplica:
		return s.addReplica(op.AddReplica)
	case *raftv1.MetaCommand_RemoveReplica:
		return s.removeReplica(op.RemoveReplica)
	case *raftv1.MetaCommand_CreatePrincipal:
		return s.createPrincipal(op.CreatePrincipal)
	case *raftv1.MetaCommand_DeletePrincipal:
		return s.deletePrincipal(op.DeletePrincipal)
	case *raftv1.MetaCommand_AddAccessKey:
		return s.addAccessKey(op.AddAccessKey)
	case *raftv1.MetaCommand_RevokeAccessKey:
		return s.revokeAccessKey(op.RevokeAccessKey)
	case *raftv1.MetaCommand_GrantPermissions:
		return s.grantPermissions(op.GrantPermissions)
	case *raftv1.MetaCommand_RevokePermissions:
		return s.revokePermissions(op.RevokePermissions)
	default:
		return failure(raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "meta command has no operation")
	}
}

// Queue returns the named queue; nil if there is none. The record is shared:
// callers must not modify it.
func (s *State) Queue(name string) *raftv1.QueueRecord {
	return s.queues[name]
}

// List returns up to limit queue names with prefix, after the name after, in
// order, and whether more follow. A limit <= 0 returns no names; more then
// says whether any name matches.
func (s *State) List(prefix, after string, limit int) (names []string, more bool) {
	// The first candidate is the first name that is both > after and
	// >= prefix; every name with prefix follows it contiguously.
	i := sort.Search(len(s.names), func(i int) bool {
		n := s.names[i]
		return n > after && n >= prefix
	})
	for ; i < len(s.names) && strings.HasPrefix(s.names[i], prefix); i++ {
		if len(names) >= limit {
			return names, true
		}
		names = append(names, s.names[i])
	}
	return names, false
}

func failure(code raftv1.ErrorCode, format string, args ...any) *raftv1.MetaResult {
	return &raftv1.MetaResult{Status: &raftv1.Status{Code: code, Message: fmt.Sprintf(format, args...)}}
}

package node

import (
	"context"
	"time"

	"github.com/wharfmq/wharf/core/placement"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
)

const (
	// driverInterval is how often the metadata leader plans a move.
	driverInterval = time.Second
	// caughtUpLag is how far (in log entries) a new replica's applied index
	// may trail its leader's for the replica to count as caught up.
	caughtUpLag = 100
)

// driverLoop runs the placement policy on the metadata leader: one move at
// a time, each a metadata command that the other loops then carry out.
func (n *Node) driverLoop(ctx context.Context) {
	every(ctx, driverInterval, nil, func(ctx context.Context) {
		if !n.leads(metaShardID) {
			return
		}
		if err := n.drive(ctx); err != nil && !n.stopping() {
			n.log.Warn("placement", "err", err)
		}
	})
}

func (n *Node) drive(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cluster, err := n.readCluster(c)
	if err != nil {
		return err
	}
	statuses := n.clusterStatuses(c, cluster.GetNodes())
	leaderApplied := map[uint64]uint64{}
	replicas := map[[2]uint64]*nodev1.ReplicaStatus{}
	for _, list := range statuses {
		for _, s := range list {
			replicas[[2]uint64{s.GetShardId(), s.GetReplicaId()}] = s
			if s.GetIsLeader() {
				leaderApplied[s.GetShardId()] = s.GetAppliedIndex()
			}
		}
	}
	caughtUp := func(shardID, replicaID uint64) bool {
		s, ok := replicas[[2]uint64{shardID, replicaID}]
		lead, known := leaderApplied[shardID]
		return ok && known && s.GetLeaderReplicaId() != 0 && s.GetAppliedIndex()+caughtUpLag >= lead
	}
	action := placement.Next(cluster, caughtUp)
	if action.Kind == placement.None {
		return nil
	}
	n.log.Info("placement move", "action", action.String())
	res, err := n.proposeMeta(c, action.Command())
	if err != nil {
		return err
	}
	return statusError(res.GetStatus())
}

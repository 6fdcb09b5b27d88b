package linearizability

import "sort"

// ReplicaState is one replica's state-machine digest at an applied index.
type ReplicaState struct {
	Node         uint64   `json:"node"`
	Shard        uint64   `json:"shard"`
	AppliedIndex uint64   `json:"applied_index"`
	Hash         [32]byte `json:"hash"`
}

// CheckReplicas: replicas of one shard that applied the same prefix of the
// log must hold the same state; a difference means non-determinism in the
// state machine or a divergent log.
func CheckReplicas(snapshots []ReplicaState) Result {
	return checkReplicas(snapshots, Options{})
}

func checkReplicas(snapshots []ReplicaState, opts Options) Result {
	res := newResult("replicas")
	type key struct{ shard, index uint64 }
	groups := map[key][]ReplicaState{}
	var keys []key
	for _, s := range snapshots {
		k := key{s.Shard, s.AppliedIndex}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].shard != keys[j].shard {
			return keys[i].shard < keys[j].shard
		}
		return keys[i].index < keys[j].index
	})
	for _, k := range keys {
		g := groups[k]
		res.Counts.OK += len(g)
		for _, s := range g[1:] {
			if s.Hash != g[0].Hash {
				res.flag(opts, "shard %d index %d: node %d hash %x differs from node %d hash %x",
					k.shard, k.index, s.Node, s.Hash[:8], g[0].Node, g[0].Hash[:8])
			}
		}
	}
	if !res.Valid {
		res.Counts.OK = 0
	}
	return res
}

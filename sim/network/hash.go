package network

import (
	"hash/fnv"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// mix hashes its inputs into one well-spread value (splitmix64 steps).
func mix(vs ...uint64) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, v := range vs {
		h ^= v
		h += 0x9e3779b97f4a7c15
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

func hashString(s string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	return f.Sum64()
}

// tracer folds every delivered message into a running hash.
type tracer struct {
	h     uint64
	count int
}

func newTracer() tracer { return tracer{h: 1} }

func (t *tracer) sum() uint64 { return t.h }

// add records a delivery: its virtual time, stream, position and, for Raft
// messages, the headers that say what the protocol did.
func (t *tracer) add(d *delivery) {
	t.count++
	t.h = mix(t.h, uint64(d.at.UnixNano()), hashString(d.s.from), hashString(d.s.to), d.s.shard, uint64(d.s.kind), d.pos)
	if d.chunk != nil {
		t.h = mix(t.h, d.chunk.ChunkId, d.chunk.Index, uint64(len(d.chunk.Data)))
		return
	}
	var b pb.MessageBatch
	if err := b.Unmarshal(d.batch); err != nil {
		return
	}
	for _, m := range b.Requests {
		t.h = mix(t.h, uint64(m.Type), m.From, m.To, m.Term, m.LogTerm, m.LogIndex, m.Commit, uint64(len(m.Entries)))
	}
}

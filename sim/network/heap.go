package network

import (
	"cmp"
	"fmt"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// delivery is one message in flight: a Raft message group of one shard
// (batch) or a snapshot chunk (chunk, with the connection that sent it).
type delivery struct {
	at    time.Time
	s     stream
	pos   uint64
	batch []byte // marshalled pb.MessageBatch
	chunk *pb.Chunk
	sconn *snapshotConn
	host  *host // set when it is delivered
}

// run hands the message to its host's handler.
func (d *delivery) run() {
	if d.chunk != nil {
		if !d.host.handleChunk(*d.chunk) {
			d.sconn.fail()
		}
		return
	}
	d.host.handleBatch(d.batch)
}

// lost notes a message that never arrived: a snapshot stream with a gap is
// useless, so its connection fails.
func (d *delivery) lost() {
	if d.sconn != nil {
		d.sconn.fail()
	}
}

// String describes the delivery for a recorded log.
func (d *delivery) String() string {
	head := fmt.Sprintf("%s %s>%s shard %d kind %d #%d", d.at.Format("05.000000"), d.s.from, d.s.to, d.s.shard, d.s.kind, d.pos)
	if d.chunk != nil {
		return fmt.Sprintf("%s chunk %d/%d", head, d.chunk.ChunkId, d.chunk.ChunkCount)
	}
	var b pb.MessageBatch
	if err := b.Unmarshal(d.batch); err != nil {
		return head + " undecodable"
	}
	for _, m := range b.Requests {
		head += fmt.Sprintf(" [%s %d>%d t%d i%d c%d e%d]", m.Type, m.From, m.To, m.Term, m.LogIndex, m.Commit, len(m.Entries))
	}
	return head
}

// before orders deliveries by time, then by stream and position, so that
// equal times never depend on the order messages were sent in.
func (d *delivery) before(e *delivery) bool {
	if c := d.at.Compare(e.at); c != 0 {
		return c < 0
	}
	if c := cmp.Or(cmp.Compare(d.s.from, e.s.from), cmp.Compare(d.s.to, e.s.to),
		cmp.Compare(d.s.shard, e.s.shard), cmp.Compare(d.s.kind, e.s.kind)); c != 0 {
		return c < 0
	}
	return d.pos < e.pos
}

type pendingHeap []*delivery

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(*delivery)) }
func (h *pendingHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}

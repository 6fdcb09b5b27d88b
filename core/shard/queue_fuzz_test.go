package shard

import (
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/queue"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// The queue shard fuzz targets. A Raft entry's bytes come from the log on
// disk or from a peer, so whatever they hold, applying them must not panic
// nor fail Update (dragonboat stops the node on an Update error): a
// command that does not decode, or decodes to nonsense, gets an error
// result, and the store keeps its invariants (queue.CheckInvariants).

// fuzzStd and fuzzFIFO are the partitions the prelude fills: a standard
// queue whose messages go to a dead-letter queue at their second receive,
// and a FIFO queue.
func fuzzStd() *raftv1.PartitionConfig {
	p := partition(1)
	p.DeadLetter = &raftv1.DeadLetterTarget{QueueId: 9, QueueName: "dlq", MaxReceiveCount: 1}
	return p
}

func fuzzFIFO() *raftv1.PartitionConfig {
	p := partition(2)
	p.Fifo, p.QueueName = true, "q2.fifo"
	return p
}

// fuzzPrelude is the state every input starts from: messages visible, in
// flight, delayed, in a FIFO group, and a receive attempt remembered.
func fuzzPrelude() [][]byte {
	fifoSend := &raftv1.Send{Partition: fuzzFIFO()}
	for i, g := range []string{"g1", "g1", "g2"} {
		fifoSend.Entries = append(fifoSend.Entries, &raftv1.SendEntry{
			MessageId: "f" + string(rune('a'+i)), Body: "fifo", DelaySeconds: -1, GroupId: g, DeduplicationId: "d" + string(rune('a'+i)),
		})
	}
	delayed := &raftv1.Send{Partition: fuzzStd(), Entries: []*raftv1.SendEntry{
		{MessageId: "late", Body: "late", DelaySeconds: 60, RequestId: "r-1"},
	}}
	return [][]byte{
		sendCmd(t0, fuzzStd(), "a", "b", "c"),
		mustMarshal(&raftv1.QueueCommand{NowMs: t0, Op: &raftv1.QueueCommand_Send{Send: delayed}}),
		mustMarshal(&raftv1.QueueCommand{NowMs: t0, Op: &raftv1.QueueCommand_Send{Send: fifoSend}}),
		receiveCmd(t0+1, fuzzStd(), 2),
		mustMarshal(&raftv1.QueueCommand{NowMs: t0 + 1, Op: &raftv1.QueueCommand_Receive{
			Receive: &raftv1.Receive{Partition: fuzzFIFO(), MaxMessages: 1, VisibilityTimeoutSeconds: 30, AttemptId: "att"},
		}}),
	}
}

// fuzzQueueSM opens a queue state machine in memory with the prelude
// applied, and returns it with the last index used and the leases the
// prelude's receives handed out.
func fuzzQueueSM(tb testing.TB) (*QueueSM, uint64, []*raftv1.Lease) {
	tb.Helper()
	s := NewQueueSM(QueueConfig{ShardID: 2, ReplicaID: 1, Dir: "queue/2", FS: vfs.NewMem()})
	if _, err := s.Open(nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	var ents []sm.Entry
	for i, cmd := range fuzzPrelude() {
		ents = append(ents, sm.Entry{Index: uint64(i + 1), Cmd: cmd})
	}
	out, err := s.Update(ents)
	if err != nil {
		tb.Fatal(err)
	}
	var leases []*raftv1.Lease
	for _, e := range out {
		res := &raftv1.QueueResult{}
		if err := proto.Unmarshal(e.Result.Data, res); err != nil {
			tb.Fatal(err)
		}
		for _, d := range res.GetDelivered() {
			m := d.GetMessage()
			leases = append(leases, &raftv1.Lease{Seq: m.GetSeq(), ReceiveCount: m.GetReceiveCount(),
				Tag: queue.LeaseTag(m.GetMessageId(), m.GetReceiveCount())})
		}
	}
	if len(leases) != 3 {
		tb.Fatalf("the prelude handed out %d leases, want 3", len(leases))
	}
	return s, uint64(len(ents)), leases
}

// fuzzQueueSeeds are real encodings of every kind of queue command, aimed
// at the prelude's state.
func fuzzQueueSeeds(leases []*raftv1.Lease) [][]byte {
	cmd := func(now int64, c *raftv1.QueueCommand) []byte {
		c.NowMs = now
		return mustMarshal(c)
	}
	stdLeases, fifoLeases := leases[:2], leases[2:]
	return [][]byte{
		sendCmd(t0+2, fuzzStd(), "d"),
		receiveCmd(t0+2, fuzzStd(), 10),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_DeleteMessages{DeleteMessages: &raftv1.DeleteMessages{
			Partition: fuzzStd(), Leases: stdLeases,
		}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: &raftv1.ChangeVisibility{
			Partition: fuzzFIFO(), Changes: []*raftv1.VisibilityChange{{Lease: fifoLeases[0], VisibilityTimeoutSeconds: 0}},
		}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: &raftv1.ChangeVisibility{
			Partition: fuzzStd(), Changes: []*raftv1.VisibilityChange{{Lease: stdLeases[1], VisibilityTimeoutSeconds: 600}},
		}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Purge{Purge: &raftv1.Purge{Partition: fuzzFIFO()}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_DropPartition{DropPartition: &raftv1.DropPartition{
			PartitionId: fuzzStd().PartitionId,
		}}}),
		cmd(t0+120_000, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_ImportMessage{ImportMessage: &raftv1.ImportMessage{
			Partition: partition(9), SourcePartitionId: fuzzStd().PartitionId, SourceSeq: 1,
			Message: &raftv1.StoredMessage{MessageId: "imp", Body: "x", SentMs: t0, ReceiveCount: 1},
		}}}),
		cmd(t0+2, &raftv1.QueueCommand{Op: &raftv1.QueueCommand_AckOutbox{AckOutbox: &raftv1.AckOutbox{OutboxIds: []uint64{1, 2}}}}),
		mustMarshal(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{
			Partition: fuzzFIFO(), MaxMessages: 1, VisibilityTimeoutSeconds: 30, AttemptId: "att",
		}}}),
		[]byte("\xff\xff not a command"),
		nil,
	}
}

// FuzzQueueApply applies up to three fuzzed entries, one batch each, to a
// queue shard holding the prelude's state, then a Tick far in the future.
func FuzzQueueApply(f *testing.F) {
	_, _, leases := fuzzQueueSM(f)
	seeds := fuzzQueueSeeds(leases)
	for i, a := range seeds {
		f.Add(a, seeds[(i+1)%len(seeds)], seeds[(i+5)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		guardHang(t)
		s, index, _ := fuzzQueueSM(t)
		tick := mustMarshal(&raftv1.QueueCommand{NowMs: t0 + 30*24*3600*1000, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}})
		for _, cmd := range [][]byte{a, b, c, tick} {
			index++
			out, err := s.Update([]sm.Entry{{Index: index, Cmd: cmd}})
			if err != nil {
				t.Fatalf("entry %x: Update failed (the node would stop): %v", cmd, err)
			}
			res := &raftv1.QueueResult{}
			if err := proto.Unmarshal(out[0].Result.Data, res); err != nil {
				t.Fatalf("entry %x: result does not decode: %v", cmd, err)
			}
			if proto.Unmarshal(cmd, &raftv1.QueueCommand{}) != nil && res.GetStatus().GetCode() != raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
				t.Fatalf("entry %x does not decode, yet its result is %v", cmd, res)
			}
			if err := queue.CheckInvariants(s.db); err != nil {
				t.Fatalf("after entry %x: %v", cmd, err)
			}
		}
		st, err := s.Lookup(ShardStateQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.(*raftv1.ShardState).GetAppliedIndex(); got != index {
			t.Fatalf("applied index %d after entry %d", got, index)
		}
	})
}

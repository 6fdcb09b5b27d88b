package queue

import (
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// FuzzStoredRecord damages one stored record of a shard, the way a
// corrupt store or a bad snapshot would, then works the shard: reads,
// sends, receives, deletes, a Tick, the invariant check and the hash.
// Damage may make them fail with an error (the node then stops, or
// refuses the command, saying why), never panic: the key and value
// decoders must refuse what they cannot read.
//
// The damaged record is the store's which-th key (modulo the number of
// keys), whose value becomes value, and whose key is cut to keyLen bytes
// and extended with suffix when keyLen is not negative; its old key goes.
func FuzzStoredRecord(f *testing.F) {
	f.Add(uint16(0), int8(-1), []byte{}, []byte("\x08\x01"))
	f.Add(uint16(3), int8(1), []byte{}, []byte{})
	f.Add(uint16(7), int8(9), []byte{0xff}, []byte("\xff\xff"))
	f.Add(uint16(12), int8(17), []byte("g"), []byte{})
	f.Add(uint16(20), int8(-1), []byte{}, []byte("\x0a\x03\x01\x02\x03"))
	for i := range 30 {
		f.Add(uint16(i), int8(i%20), []byte{byte(i)}, []byte{byte(i), 1})
	}
	f.Fuzz(func(t *testing.T, which uint16, keyLen int8, suffix, value []byte) {
		s := newShard(t)
		s.skipChecks = true
		std, fifo := standardQueue(1), fifoQueue(2)
		std.DeadLetter = &raftv1.DeadLetterTarget{QueueId: 9, QueueName: "dlq", MaxReceiveCount: 1}
		s.send(std, entry("a"), entry("b"), entry("c"))
		s.send(fifo, fifoEntry("g1", "x"), fifoEntry("g1", "y"), fifoEntry("g2", "z"))
		leased := append(s.receive(std, 2, 30), s.receive(fifo, 1, 30)...)
		s.advance(5)
		s.send(std, &raftv1.SendEntry{MessageId: "late", Body: "late", DelaySeconds: 60, RequestId: "r-1"})

		keys, _, err := scan(s.db, nil, []byte{0xff}, 1<<16)
		if err != nil || len(keys) == 0 {
			t.Fatalf("scan: %d keys, %v", len(keys), err)
		}
		old := keys[int(which)%len(keys)]
		k := old
		if keyLen >= 0 {
			k = append(append([]byte(nil), old[:min(int(keyLen), len(old))]...), suffix...)
		}
		tx := s.db.NewTxn()
		if err := tx.Delete(old); err != nil {
			t.Fatal(err)
		}
		if len(k) > 0 {
			if err := tx.Set(k, value); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(false); err != nil {
			t.Fatal(err)
		}
		tx.Close()

		var leases []*raftv1.Lease
		for _, m := range leased {
			leases = append(leases, leaseOf(m))
		}
		cmds := []*raftv1.QueueCommand{
			{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: std, Entries: []*raftv1.SendEntry{entry("d")}}}},
			{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{Partition: fifo, Entries: []*raftv1.SendEntry{fifoEntry("g2", "w")}}}},
			{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{Partition: std, MaxMessages: 10, VisibilityTimeoutSeconds: 30}}},
			{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{Partition: fifo, MaxMessages: 10, VisibilityTimeoutSeconds: 30, AttemptId: "att"}}},
			{Op: &raftv1.QueueCommand_DeleteMessages{DeleteMessages: &raftv1.DeleteMessages{Partition: std, Leases: leases[:1]}}},
			{Op: &raftv1.QueueCommand_ChangeVisibility{ChangeVisibility: &raftv1.ChangeVisibility{Partition: fifo,
				Changes: []*raftv1.VisibilityChange{{Lease: leases[2], VisibilityTimeoutSeconds: 0}}}}},
			{NowMs: s.now + 3600_000, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}},
			{NowMs: s.now + 3600_000, Op: &raftv1.QueueCommand_AckOutbox{AckOutbox: &raftv1.AckOutbox{OutboxIds: []uint64{1}}}},
			{NowMs: s.now + 30*24*3600_000, Op: &raftv1.QueueCommand_Tick{Tick: &raftv1.Tick{}}},
			{Op: &raftv1.QueueCommand_Purge{Purge: &raftv1.Purge{Partition: fifo}}},
			{Op: &raftv1.QueueCommand_DropPartition{DropPartition: &raftv1.DropPartition{PartitionId: std.PartitionId}}},
		}
		for _, cmd := range cmds {
			if cmd.NowMs == 0 {
				cmd.NowMs = s.now
			}
			s.index++
			tx := s.db.NewTxn()
			if _, err := Apply(tx, s.index, cmd); err == nil {
				if err := tx.Commit(false); err != nil {
					t.Fatal(err)
				}
			}
			tx.Close()
			_, _ = Partition(s.db, std.PartitionId)
			_, _ = Ready(s.db, fifo.PartitionId, nil)
			_, _ = NextWake(s.db)
			_, _ = Outbox(s.db, 10)
		}
		_ = CheckInvariants(s.db)
		_, _ = Hash(s.db)
		_, _ = RequestIDs(s.db)
	})
}

package queue

import (
	"strings"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Each rule CheckInvariants adds for wakes, idle groups and dropped
// partitions flags a store broken in just that way.
func TestCheckInvariantsFlagsBrokenStores(t *testing.T) {
	for name, c := range map[string]struct {
		breakIt func(s *shard, std, fifo *raftv1.PartitionConfig) error
		want    string
	}{
		"wake later than a due entry": {
			func(s *shard, std, _ *raftv1.PartitionConfig) error {
				st, err := Partition(s.db, std.PartitionId)
				if err != nil {
					return err
				}
				tx := s.db.NewTxn()
				defer tx.Close()
				if err := tx.Delete(wakeKey(st.NextWakeMs, std.PartitionId)); err != nil {
					return err
				}
				st.NextWakeMs += 1_000_000_000
				if err := tx.Set(wakeKey(st.NextWakeMs, std.PartitionId), nil); err != nil {
					return err
				}
				if err := putRecord(tx, partitionKey(std.PartitionId), st); err != nil {
					return err
				}
				return tx.Commit(false)
			},
			"before the wake",
		},
		"wake not in the wake index": {
			func(s *shard, std, _ *raftv1.PartitionConfig) error {
				st, err := Partition(s.db, std.PartitionId)
				if err != nil {
					return err
				}
				tx := s.db.NewTxn()
				defer tx.Close()
				if err := tx.Delete(wakeKey(st.NextWakeMs, std.PartitionId)); err != nil {
					return err
				}
				return tx.Commit(false)
			},
			"not in the wake index",
		},
		"empty group not filed as idle": {
			func(s *shard, _, fifo *raftv1.PartitionConfig) error {
				g := &raftv1.GroupState{}
				if _, err := getRecord(s.db, groupKey(fifo.PartitionId, "g"), g); err != nil {
					return err
				}
				tx := s.db.NewTxn()
				defer tx.Close()
				if err := tx.Delete(groupIdleKey(fifo.PartitionId, g.IdleAtMs, "g")); err != nil {
					return err
				}
				g.IdleAtMs = 0
				if err := putRecord(tx, groupKey(fifo.PartitionId, "g"), g); err != nil {
					return err
				}
				return tx.Commit(false)
			},
			"empty and not in the idle index",
		},
		"idle entry naming no group": {
			func(s *shard, _, fifo *raftv1.PartitionConfig) error {
				tx := s.db.NewTxn()
				defer tx.Close()
				if err := tx.Delete(groupKey(fifo.PartitionId, "g")); err != nil {
					return err
				}
				return tx.Commit(false)
			},
			"names no group",
		},
		"dropped partition with a record": {
			func(s *shard, std, _ *raftv1.PartitionConfig) error {
				tx := s.db.NewTxn()
				defer tx.Close()
				if err := tx.Set(tombstoneKey(std.PartitionId), nil); err != nil {
					return err
				}
				return tx.Commit(false)
			},
			"still has a record",
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newShard(t)
			std, fifo := standardQueue(1), fifoQueue(2)
			s.send(std, entry("a"))
			s.receive(std, 1, 30)
			s.send(fifo, fifoEntry("g", "b"))
			s.del(fifo, leaseOf(s.receive(fifo, 1, 30)[0])) // g is now empty and idle
			if err := CheckInvariants(s.db); err != nil {
				t.Fatalf("before breaking: %v", err)
			}
			if err := c.breakIt(s, std, fifo); err != nil {
				t.Fatal(err)
			}
			err := CheckInvariants(s.db)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckInvariants = %v, want an error with %q", err, c.want)
			}
		})
	}
}

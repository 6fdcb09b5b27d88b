package shard

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/wharfmq/wharf/core/mutants"
	"github.com/wharfmq/wharf/core/queue"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// See core/queue/mutants_test.go: each planted bug of this package that a
// unit test can show has a scenario, nil on correct code, run with the bug
// off and (in a rewritten tree) on. shard-skip-sync needs a power loss after
// log compaction, which only the simulator's disks model.
var shardScenarios = map[string]func(t *testing.T) error{
	mutants.ShardSnapshotMisses:    scenarioSnapshotRoundTrip,
	mutants.ShardRecoverDropsDedup: scenarioSnapshotRoundTrip,
}

func TestMutant(t *testing.T) {
	rewritten := mutants.Rewritten(".")
	for name, scenario := range shardScenarios {
		t.Run(name, func(t *testing.T) {
			t.Run("off", func(t *testing.T) {
				if err := scenario(t); err != nil {
					t.Fatalf("the scenario fails on correct code: %v", err)
				}
			})
			t.Run("on", func(t *testing.T) {
				if !rewritten {
					t.Skip("core/shard is not rewritten by failpoint-ctl; run make test-mutants-unit")
				}
				if err := mutants.Enable(name); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := mutants.Disable(name); err != nil {
						t.Error(err)
					}
				}()
				err := scenario(t)
				if err == nil {
					t.Fatalf("planted bug %s is not observable: the scenario passes", name)
				}
				t.Logf("caught: %v", err)
			})
		})
	}
}

// A replica recovered from a snapshot holds exactly the snapshot's state,
// dedup records included.
func scenarioSnapshotRoundTrip(t *testing.T) error {
	src, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	var index uint64
	send := &raftv1.Send{Partition: partition(1)}
	for i := range 5 {
		send.Entries = append(send.Entries, &raftv1.SendEntry{
			MessageId: fmt.Sprintf("m%d", i), Body: fmt.Sprintf("b%d", i), DelaySeconds: -1, RequestId: fmt.Sprintf("r%d", i)})
	}
	update(t, src, &index, mustMarshal(&raftv1.QueueCommand{NowMs: t0, Op: &raftv1.QueueCommand_Send{Send: send}}),
		receiveCmd(t0, partition(1), 2))
	dst, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
	if err := dst.RecoverFromSnapshot(bytes.NewReader(snapshotBytes(t, src)), nil); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	want, got := contents(t, src.db), contents(t, dst.db)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return fmt.Errorf("recovered store differs from the source: %d keys, want %d", len(got), len(want))
	}
	if err := queue.CheckInvariants(dst.db); err != nil {
		return fmt.Errorf("recovered store: %w", err)
	}
	return nil
}

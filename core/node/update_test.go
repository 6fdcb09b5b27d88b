package node

import (
	"sync"
	"testing"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// TestConcurrentUpdatesKeepEveryChange runs updates of different attributes
// of one queue at once: each merges its change into the record it read, so
// without the precondition one would overwrite another's change with the
// old value.
func TestConcurrentUpdatesKeepEveryChange(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "cfg"})
	const rounds = 5
	for r := range int32(rounds) {
		// As many updaters as attempts: each lost attempt means another
		// updater won, so every one of them must get through.
		reqs := []*wharfv1.UpdateQueueRequest{
			{Queue: "cfg", VisibilityTimeoutSeconds: i32(31 + r)},
			{Queue: "cfg", MessageRetentionSeconds: i32(3601 + r)},
			{Queue: "cfg", DelaySeconds: i32(7 + r)},
			{Queue: "cfg", ReceiveWaitTimeSeconds: i32(3 + r)},
			{Queue: "cfg", MaximumMessageBytes: i32(2048 + r)},
		}
		if len(reqs) > maxUpdateAttempts {
			t.Fatalf("%d updaters, but only %d attempts each", len(reqs), maxUpdateAttempts)
		}
		start := make(chan struct{})
		errs := make([]error, len(reqs))
		var wg sync.WaitGroup
		for i, req := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = n.UpdateQueue(ctx(t), req)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: update %d: %v", r, i, err)
			}
		}
		q := getQueue(t, n, "cfg")
		if q.GetVisibilityTimeoutSeconds() != 31+r || q.GetMessageRetentionSeconds() != 3601+r ||
			q.GetDelaySeconds() != 7+r || q.GetReceiveWaitTimeSeconds() != 3+r || q.GetMaximumMessageBytes() != 2048+r {
			t.Fatalf("round %d: a change was lost: %v", r, q)
		}
	}
}

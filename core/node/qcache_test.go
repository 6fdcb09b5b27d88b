package node

import (
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// plantStale puts rec in the node's cache as if it had just been read, the
// way a node whose metadata replica lags (or that hosts none) may still
// hold it.
func plantStale(n *testNode, rec *raftv1.QueueRecord) {
	n.qcache.put(rec.GetName(), rec, n.qcache.gen.Load(), time.Now())
}

func TestQueueCacheServesDataPathWithoutMetadataReads(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "hot"})
	send(t, n, "hot", "one") // reads the record into the cache
	if n.qcache.get("hot") == nil {
		t.Fatal("record not cached after a send")
	}
	// Any metadata command applied locally drops every entry.
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "other"})
	if n.qcache.get("hot") != nil {
		t.Fatal("record still cached after a metadata command")
	}
}

func TestQueueCacheUpdateTakesEffectOnThisNode(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "q"})
	send(t, n, "q", "a")
	must(n.UpdateQueue(ctx(t), &wharfv1.UpdateQueueRequest{Queue: "q", VisibilityTimeoutSeconds: i32(1)}))
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "q"})
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	// The lease follows the updated 1 s timeout, not the cached 30 s.
	if d := msgs[0].GetVisibleAtTimestamp() - time.Now().UnixMilli(); d > 2000 {
		t.Fatalf("lease of %d ms after the update to 1 s", d)
	}
}

func TestStaleCachedRecordOfDeletedQueue(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "gone"})
	old := must(n.queue(ctx(t), "queue", "gone"))
	must(n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "gone"}))

	// DeleteQueue answered after dropping the partitions: a node that
	// still caches the record meets the tombstone, reads again, and finds
	// no queue.
	plantStale(n, old)
	_, err := n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "gone", Body: "late"})
	wantCode(t, err, core.NotFound, "")
	plantStale(n, old)
	_, err = n.ReceiveMessage(ctx(t), &wharfv1.ReceiveMessageRequest{Queue: "gone", WaitTimeSeconds: i32(0)})
	wantCode(t, err, core.NotFound, "")

	// Created again under a new id: a stale record sends to the new queue
	// after one retry, and its handles work.
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "gone"})
	plantStale(n, old)
	send(t, n, "gone", "new")
	plantStale(n, old)
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "gone"})
	if bodies(msgs) != "new" {
		t.Fatalf("received %q from the new queue", bodies(msgs))
	}
	plantStale(n, old)
	must(n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "gone", ReceiptHandle: msgs[0].GetReceiptHandle()}))
	if q := getQueue(t, n, "gone"); q.GetApproximateNumberOfMessagesNotVisible() != 0 {
		t.Fatalf("message not deleted: %v", q)
	}
	plantStale(n, old)
	res := must(n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "gone", Entries: []*wharfv1.SendMessageBatchRequestEntry{
		{Id: "a", Body: "b1"}, {Id: "b", Body: "b2"},
	}}))
	if len(res.GetSuccessful()) != 2 {
		t.Fatalf("batch after a stale record: %v", res)
	}
}

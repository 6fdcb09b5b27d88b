package node

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// These tests run queues of several partitions on one node with four queue
// shards, so that a queue of four partitions spreads over all of them.

func fourShards(c *Config) { c.QueueShards = 4 }

// partitionOf returns the partition id a receipt handle names.
func partitionOf(t *testing.T, rec *raftv1.QueueRecord, m *wharfv1.Message) uint64 {
	t.Helper()
	h, err := decodeHandle("receipt_handle", m.GetReceiptHandle(), rec.GetQueueId())
	if err != nil {
		t.Fatalf("receipt handle of %q: %v", m.GetBody(), err)
	}
	return h.partitionID
}

// requestIDFor returns a request id starting with prefix whose standard
// send goes to partition p of n.
func requestIDFor(t *testing.T, prefix string, p, n int) string {
	t.Helper()
	for i := range 1000 {
		id := prefix + strconv.Itoa(i)
		if groupPartition(id, n) == p {
			return id
		}
	}
	t.Fatalf("no request id maps to partition %d of %d", p, n)
	return ""
}

// groupFor returns a FIFO group whose messages go to partition p of n.
func groupFor(t *testing.T, prefix string, p, n int) string {
	t.Helper()
	for i := range 1000 {
		g := prefix + strconv.Itoa(i)
		if groupPartition(g, n) == p {
			return g
		}
	}
	t.Fatalf("no group maps to partition %d of %d", p, n)
	return ""
}

// visibleByPartition reads how many visible messages each partition of the
// queue holds, in placement order.
func visibleByPartition(t *testing.T, n *testNode, rec *raftv1.QueueRecord) []int64 {
	t.Helper()
	out := make([]int64, len(rec.GetPartitions()))
	for i, pl := range rec.GetPartitions() {
		out[i] = partitionState(t, n, pl).GetVisible()
	}
	return out
}

// drain receives and deletes until a receive comes back empty, and returns
// the messages in the order received.
func drain(t *testing.T, n *testNode, queue string) []*wharfv1.Message {
	t.Helper()
	var all []*wharfv1.Message
	for range 1000 {
		msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: queue, MaxMessages: 10})
		if len(msgs) == 0 {
			return all
		}
		all = append(all, msgs...)
		entries := make([]*wharfv1.DeleteMessageBatchRequestEntry, len(msgs))
		for i, m := range msgs {
			entries[i] = &wharfv1.DeleteMessageBatchRequestEntry{Id: strconv.Itoa(i), ReceiptHandle: m.GetReceiptHandle()}
		}
		resp := must(n.DeleteMessageBatch(ctx(t), &wharfv1.DeleteMessageBatchRequest{Queue: queue, Entries: entries}))
		if len(resp.GetFailed()) != 0 {
			t.Fatalf("delete: %v", resp.GetFailed())
		}
	}
	t.Fatalf("queue %q not drained after 1000 receives", queue)
	return nil
}

func TestCreateQueuePartitions(t *testing.T) {
	n := startNode(t, fourShards)

	// Unset: one partition.
	if q := createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "one"}); q.GetPartitions() != 1 {
		t.Fatalf("created %v, want 1 partition", q)
	}
	if q := getQueue(t, n, "one"); q.GetPartitions() != 1 {
		t.Fatalf("got %v, want 1 partition", q)
	}
	for _, bad := range []int32{0, 65, -1} {
		_, err := n.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "bad", Partitions: i32(bad)})
		wantCode(t, err, core.InvalidArgument, "partitions")
	}
	if rec, err := n.findQueue(ctx(t), "bad"); rec != nil || err != nil {
		t.Fatal("a rejected create made the queue")
	}

	q := createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)})
	if q.GetPartitions() != 4 {
		t.Fatalf("created %v, want 4 partitions", q)
	}
	rec := must(n.findQueue(ctx(t), "wide"))
	shards := map[uint64]bool{}
	for _, pl := range rec.GetPartitions() {
		shards[pl.GetShardId()] = true
	}
	if len(rec.GetPartitions()) != 4 || len(shards) != 4 {
		t.Fatalf("placements %v: want 4 partitions on 4 distinct shards", rec.GetPartitions())
	}

	// Idempotent create: the same request again returns the queue; another
	// partition count is another queue.
	if again := createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)}); again.GetCreatedTimestamp() != q.GetCreatedTimestamp() || again.GetPartitions() != 4 {
		t.Fatalf("re-create returned %v, want %v", again, q)
	}
	for _, other := range []*int32{nil, i32(1), i32(2), i32(8)} {
		_, err := n.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "wide", Partitions: other})
		wantCode(t, err, core.AlreadyExists, "")
	}
	_, err := n.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "one", Partitions: i32(2)})
	wantCode(t, err, core.AlreadyExists, "")
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "one", Partitions: i32(1)})

	if got := getQueue(t, n, "wide").GetPartitions(); got != 4 {
		t.Fatalf("GetQueue: %d partitions, want 4", got)
	}
	up := must(n.UpdateQueue(ctx(t), &wharfv1.UpdateQueueRequest{Queue: "wide", VisibilityTimeoutSeconds: i32(5)})).GetQueue()
	if up.GetPartitions() != 4 || up.GetVisibilityTimeoutSeconds() != 5 {
		t.Fatalf("UpdateQueue: %v", up)
	}

	// The most partitions a queue may have, more than there are shards.
	max := createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "widest.fifo", Fifo: true, Partitions: i32(core.MaxPartitions)})
	if max.GetPartitions() != core.MaxPartitions {
		t.Fatalf("created %v, want %d partitions", max, core.MaxPartitions)
	}
	perShard := map[uint64]int{}
	for _, pl := range must(n.findQueue(ctx(t), "widest.fifo")).GetPartitions() {
		perShard[pl.GetShardId()]++
	}
	for id, c := range perShard {
		if c != core.MaxPartitions/4 {
			t.Fatalf("partitions per shard %v: shard %d holds %d, want %d each", perShard, id, c, core.MaxPartitions/4)
		}
	}
}

func TestStandardQueueOverPartitions(t *testing.T) {
	n := startNode(t, fourShards)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)})
	rec := must(n.findQueue(ctx(t), "wide"))

	const total = 200
	ids := map[string]string{} // message id to body
	for i := range total {
		body := fmt.Sprintf("m%03d", i)
		ids[send(t, n, "wide", body)] = body
	}
	visible := visibleByPartition(t, n, rec)
	var sum int64
	for i, v := range visible {
		if v == 0 {
			t.Fatalf("after %d sends partition %d holds none: %v", total, i, visible)
		}
		sum += v
	}
	if sum != total {
		t.Fatalf("partitions hold %v, %d in all, want %d", visible, sum, total)
	}
	if q := getQueue(t, n, "wide"); q.GetApproximateNumberOfMessages() != total || q.GetApproximateNumberOfMessagesNotVisible() != 0 {
		t.Fatalf("counts %v", q)
	}

	// Receives reach every partition; in-flight counts sum too.
	first := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "wide", MaxMessages: 10, VisibilityTimeoutSeconds: i32(600)})
	if q := getQueue(t, n, "wide"); q.GetApproximateNumberOfMessages() != total-int64(len(first)) ||
		q.GetApproximateNumberOfMessagesNotVisible() != int64(len(first)) {
		t.Fatalf("counts with %d in flight: %v", len(first), q)
	}
	must(n.ChangeMessageVisibilityBatch(ctx(t), &wharfv1.ChangeMessageVisibilityBatchRequest{Queue: "wide",
		Entries: func() (es []*wharfv1.ChangeMessageVisibilityBatchRequestEntry) {
			for i, m := range first {
				es = append(es, &wharfv1.ChangeMessageVisibilityBatchRequestEntry{Id: strconv.Itoa(i), ReceiptHandle: m.GetReceiptHandle()})
			}
			return es
		}()}))
	got := drain(t, n, "wide")
	seen := map[string]bool{}
	fromPartition := map[uint64]int{}
	for _, m := range got {
		if seen[m.GetMessageId()] {
			t.Fatalf("message %s (%s) received twice", m.GetMessageId(), m.GetBody())
		}
		seen[m.GetMessageId()] = true
		if ids[m.GetMessageId()] != m.GetBody() {
			t.Fatalf("received %s with body %q, sent %q", m.GetMessageId(), m.GetBody(), ids[m.GetMessageId()])
		}
		fromPartition[partitionOf(t, rec, m)]++
	}
	if len(seen) != total || len(fromPartition) != 4 {
		t.Fatalf("received %d of %d messages, from partitions %v", len(seen), total, fromPartition)
	}
	if q := getQueue(t, n, "wide"); q.GetApproximateNumberOfMessages() != 0 || q.GetApproximateNumberOfMessagesNotVisible() != 0 {
		t.Fatalf("counts after drain %v", q)
	}

	// Purge empties every partition.
	for p := range 4 {
		for i := range 3 {
			must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "wide", Body: "p", RequestId: requestIDFor(t, fmt.Sprintf("purge-%d-%d-", p, i), p, 4)}))
		}
	}
	send(t, n, "wide", "extra")
	if q := getQueue(t, n, "wide"); q.GetApproximateNumberOfMessages() == 0 {
		t.Fatalf("counts before purge %v", q)
	}
	must(n.PurgeQueue(ctx(t), &wharfv1.PurgeQueueRequest{Queue: "wide"}))
	for i, v := range visibleByPartition(t, n, rec) {
		if v != 0 {
			t.Fatalf("partition %d holds %d after purge", i, v)
		}
	}
	if q := getQueue(t, n, "wide"); q.GetApproximateNumberOfMessages() != 0 {
		t.Fatalf("counts after purge %v", q)
	}
	if msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "wide", MaxMessages: 10}); len(msgs) != 0 {
		t.Fatalf("received after purge: %v", msgs)
	}

	// Delete drops every partition's data.
	for range 20 {
		send(t, n, "wide", "doomed")
	}
	must(n.DeleteQueue(ctx(t), &wharfv1.DeleteQueueRequest{Queue: "wide"}))
	for _, pl := range rec.GetPartitions() {
		waitDropped(t, n, pl, 10*time.Second)
	}
}

func TestLongPollWakesOnAnyPartition(t *testing.T) {
	// With the fallback re-poll an hour away, only a wake can end a poll
	// before its 20 s.
	n := startNode(t, func(c *Config) { fourShards(c); c.pollInterval = time.Hour })
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)})
	rec := must(n.findQueue(ctx(t), "wide"))
	for p := range 4 {
		t.Run(fmt.Sprintf("partition %d", p), func(t *testing.T) {
			done := make(chan []*wharfv1.Message, 1)
			go func() {
				resp, err := n.ReceiveMessage(context.Background(), &wharfv1.ReceiveMessageRequest{Queue: "wide", WaitTimeSeconds: i32(20)})
				if err != nil {
					t.Errorf("long poll: %v", err)
				}
				done <- resp.GetMessages()
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case msgs := <-done:
				t.Fatalf("long poll returned before the send: %v", msgs)
			default:
			}
			body := fmt.Sprintf("to %d", p)
			must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "wide", Body: body, RequestId: requestIDFor(t, fmt.Sprintf("wake-%d-", p), p, 4)}))
			select {
			case msgs := <-done:
				if bodies(msgs) != body {
					t.Fatalf("long poll got %v, want %q", msgs, body)
				}
				if got, want := partitionOf(t, rec, msgs[0]), rec.GetPartitions()[p].GetPartitionId(); got != want {
					t.Fatalf("message came from partition %d, want %d", got, want)
				}
				must(n.DeleteMessage(ctx(t), &wharfv1.DeleteMessageRequest{Queue: "wide", ReceiptHandle: msgs[0].GetReceiptHandle()}))
			case <-time.After(5 * time.Second):
				t.Fatalf("long poll not woken by a send to partition %d", p)
			}
		})
	}
}

func TestFIFOOrderOverPartitions(t *testing.T) {
	n := startNode(t, fourShards)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide.fifo", Fifo: true, ContentBasedDeduplication: true, Partitions: i32(4)})
	rec := must(n.findQueue(ctx(t), "wide.fifo"))

	// Two groups per partition, sent interleaved.
	var groups []string
	for p := range 4 {
		groups = append(groups, groupFor(t, "a", p, 4), groupFor(t, "b", p, 4))
	}
	const perGroup = 15
	for i := range perGroup {
		for gi, g := range groups {
			if (i+gi)%3 == 0 { // some as batches, some one by one
				continue
			}
			must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "wide.fifo", MessageGroupId: g, Body: fmt.Sprintf("%s/%02d", g, i)}))
		}
		var batch []*wharfv1.SendMessageBatchRequestEntry
		for gi, g := range groups {
			if (i+gi)%3 == 0 {
				batch = append(batch, &wharfv1.SendMessageBatchRequestEntry{Id: strconv.Itoa(gi), MessageGroupId: g, Body: fmt.Sprintf("%s/%02d", g, i)})
			}
		}
		resp := must(n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "wide.fifo", Entries: batch}))
		if len(resp.GetFailed()) != 0 {
			t.Fatalf("batch: %v", resp.GetFailed())
		}
	}
	for i, v := range visibleByPartition(t, n, rec) {
		if v != 2*perGroup {
			t.Fatalf("partition %d holds %d, want %d", i, v, 2*perGroup)
		}
	}

	got := drain(t, n, "wide.fifo")
	next := map[string]int{}
	for _, m := range got {
		g := m.GetMessageGroupId()
		if want := fmt.Sprintf("%s/%02d", g, next[g]); m.GetBody() != want {
			t.Fatalf("group %s: got %q, want %q", g, m.GetBody(), want)
		}
		next[g]++
		if p := partitionOf(t, rec, m); p != rec.GetPartitions()[groupPartition(g, 4)].GetPartitionId() {
			t.Fatalf("group %s message from partition %d", g, p)
		}
	}
	for _, g := range groups {
		if next[g] != perGroup {
			t.Fatalf("group %s: received %d of %d", g, next[g], perGroup)
		}
	}
}

func TestFIFOReceiveRetryOverPartitions(t *testing.T) {
	n := startNode(t, fourShards)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide.fifo", Fifo: true, ContentBasedDeduplication: true, Partitions: i32(4)})
	// Every partition holds visible messages, so a retry that looked at
	// another partition first would lease others.
	for p := range 4 {
		for gi := range 5 {
			g := groupFor(t, fmt.Sprintf("p%d-g%d-", p, gi), p, 4)
			for i := range 2 {
				must(n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "wide.fifo", MessageGroupId: g, Body: fmt.Sprintf("%s/%d", g, i)}))
			}
		}
	}
	for a := range 12 {
		attempt := fmt.Sprintf("attempt-%d", a)
		req := func() *wharfv1.ReceiveMessageRequest {
			return &wharfv1.ReceiveMessageRequest{Queue: "wide.fifo", MaxMessages: 3, VisibilityTimeoutSeconds: i32(600), ReceiveRequestAttemptId: attempt}
		}
		first := receive(t, n, req())
		if len(first) == 0 {
			t.Fatalf("%s: nothing received", attempt)
		}
		for r := range 3 {
			again := receive(t, n, req())
			if len(again) != len(first) {
				t.Fatalf("%s retry %d: got %d messages (%s), first got %d (%s)", attempt, r, len(again), bodies(again), len(first), bodies(first))
			}
			for i := range first {
				if again[i].GetMessageId() != first[i].GetMessageId() || again[i].GetReceiptHandle() != first[i].GetReceiptHandle() {
					t.Fatalf("%s retry %d: got %s, first got %s", attempt, r, bodies(again), bodies(first))
				}
			}
		}
	}
}

func TestSendBatchOverPartitions(t *testing.T) {
	n := startNode(t, fourShards)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)})
	rec := must(n.findQueue(ctx(t), "wide"))

	// Ten entries aimed at the four partitions out of order, two invalid.
	var entries []*wharfv1.SendMessageBatchRequestEntry
	for i := range 10 {
		e := &wharfv1.SendMessageBatchRequestEntry{Id: fmt.Sprintf("e%d", i), Body: fmt.Sprintf("b%d", i), RequestId: requestIDFor(t, fmt.Sprintf("e%d-", i), (i*3)%4, 4)}
		switch i {
		case 2:
			e.Body = ""
		case 5:
			e.DelaySeconds = i32(901)
		}
		entries = append(entries, e)
	}
	resp := must(n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "wide", Entries: entries}))
	var okIDs, failedIDs []string
	sentIDs := map[string]string{} // body to message id
	for _, s := range resp.GetSuccessful() {
		okIDs = append(okIDs, s.GetId())
		i, _ := strconv.Atoi(s.GetId()[1:])
		if s.GetMd5OfBody() != md5Hex(entries[i].GetBody()) || s.GetMessageId() == "" {
			t.Fatalf("entry %s: %v", s.GetId(), s)
		}
		sentIDs[entries[i].GetBody()] = s.GetMessageId()
	}
	for _, f := range resp.GetFailed() {
		failedIDs = append(failedIDs, f.GetId())
		if !f.GetSenderFault() || f.GetCode() != core.InvalidArgument.String() {
			t.Fatalf("failed entry %v", f)
		}
	}
	if fmt.Sprint(okIDs) != "[e0 e1 e3 e4 e6 e7 e8 e9]" || fmt.Sprint(failedIDs) != "[e2 e5]" {
		t.Fatalf("successful %v, failed %v", okIDs, failedIDs)
	}
	for i, v := range visibleByPartition(t, n, rec) {
		if v < 1 {
			t.Fatalf("partition %d got none of the batch: %v", i, visibleByPartition(t, n, rec))
		}
	}
	for _, m := range drain(t, n, "wide") {
		if sentIDs[m.GetBody()] != m.GetMessageId() {
			t.Fatalf("received %q as %s, the batch answered %s", m.GetBody(), m.GetMessageId(), sentIDs[m.GetBody()])
		}
		delete(sentIDs, m.GetBody())
	}
	if len(sentIDs) != 0 {
		t.Fatalf("never received %v", sentIDs)
	}

	// A FIFO batch over groups in different partitions: sequence numbers
	// are per partition, each entry answered in place.
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide.fifo", Fifo: true, ContentBasedDeduplication: true, Partitions: i32(4)})
	var fentries []*wharfv1.SendMessageBatchRequestEntry
	for i := range 8 {
		fentries = append(fentries, &wharfv1.SendMessageBatchRequestEntry{
			Id: fmt.Sprintf("f%d", i), Body: fmt.Sprintf("x%d", i), MessageGroupId: groupFor(t, "g", i%4, 4),
		})
	}
	fresp := must(n.SendMessageBatch(ctx(t), &wharfv1.SendMessageBatchRequest{Queue: "wide.fifo", Entries: fentries}))
	if len(fresp.GetSuccessful()) != 8 {
		t.Fatalf("fifo batch: %v", fresp)
	}
	for i, s := range fresp.GetSuccessful() {
		if s.GetId() != fentries[i].GetId() || s.GetSequenceNumber() == "" || s.GetMd5OfBody() != md5Hex(fentries[i].GetBody()) {
			t.Fatalf("fifo entry %d: %v", i, s)
		}
	}
}

func TestReceiveOrder(t *testing.T) {
	r := testRand(t)
	// Every order visits each partition once.
	for _, id := range []string{"", "a", "attempt-7"} {
		for n := 1; n <= 8; n++ {
			seen := map[int]bool{}
			for _, p := range receiveOrder(n, id, r) {
				seen[p] = true
			}
			if len(seen) != n {
				t.Fatalf("receiveOrder(%d, %q) misses partitions: %v", n, id, seen)
			}
		}
	}
	// An attempt id fixes the order, so that a retry repeats it.
	for _, id := range []string{"a", "b", "attempt-7"} {
		want := fmt.Sprint(receiveOrder(4, id, r))
		for range 20 {
			if got := fmt.Sprint(receiveOrder(4, id, r)); got != want {
				t.Fatalf("receiveOrder(4, %q) = %s, then %s", id, want, got)
			}
		}
		if first := receiveOrder(4, id, r)[0]; first != groupPartition(id, 4) {
			t.Fatalf("receiveOrder(4, %q) starts at %d, want %d", id, first, groupPartition(id, 4))
		}
	}
	// Without one, receivers start anywhere.
	starts := map[int]bool{}
	for range 200 {
		starts[receiveOrder(4, "", r)[0]] = true
	}
	if len(starts) != 4 {
		t.Fatalf("200 random orders started only at %v", starts)
	}
}

func TestStandardReceiveFillsFromSeveralPartitions(t *testing.T) {
	n := startNode(t, nil)
	createQueue(t, n, &wharfv1.CreateQueueRequest{Name: "wide", Partitions: i32(4)})
	for i := 0; i < 12; i++ {
		send(t, n, "wide", fmt.Sprint(i))
	}
	// 12 messages spread at random over 4 partitions: one partition holds
	// 10 of them with a probability of about 3 in 10,000, so a receive of 10
	// gets 10 only by filling up from several partitions.
	msgs := receive(t, n, &wharfv1.ReceiveMessageRequest{Queue: "wide", MaxMessages: 10})
	if len(msgs) != 10 {
		t.Fatalf("received %d messages, want 10", len(msgs))
	}
}

// testRand is a lockedRand seeded from crypto/rand.
func testRand(t *testing.T) *lockedRand {
	t.Helper()
	r, err := newLockedRand(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func TestQueueCreate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *wharfv1.CreateQueueRequest
	}{
		// Attributes not given are not sent: the server applies defaults.
		{[]string{"orders"}, &wharfv1.CreateQueueRequest{Name: "orders"}},
		{[]string{"orders", "--partitions", "8"}, &wharfv1.CreateQueueRequest{Name: "orders", Partitions: proto.Int32(8)}},
		// Sent as given, so the server reports a value out of range.
		{[]string{"--partitions", "0", "orders"}, &wharfv1.CreateQueueRequest{Name: "orders", Partitions: proto.Int32(0)}},
		{[]string{"orders.fifo", "--fifo", "--content-based-dedup"},
			&wharfv1.CreateQueueRequest{Name: "orders.fifo", Fifo: true, ContentBasedDeduplication: true}},
		{[]string{"--visibility", "0", "orders", "--retention", "60", "--delay", "5", "--wait", "20", "--max-bytes", "1024"},
			&wharfv1.CreateQueueRequest{Name: "orders", VisibilityTimeoutSeconds: proto.Int32(0),
				MessageRetentionSeconds: proto.Int32(60), DelaySeconds: proto.Int32(5),
				ReceiveWaitTimeSeconds: proto.Int32(20), MaximumMessageBytes: proto.Int32(1024)}},
		{[]string{"orders", "--dlq", "orders-dead", "--max-receives", "3"},
			&wharfv1.CreateQueueRequest{Name: "orders",
				RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "orders-dead", MaxReceiveCount: 3}}},
	} {
		svc := &fakeService{queue: &wharfv1.Queue{Name: tc.want.Name}}
		r := runCLI(t, svc, "", append([]string{"queue", "create"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", tc.args, r.code, r.stderr)
			continue
		}
		wantRequest(t, svc, tc.want)
		if !strings.HasPrefix(r.stdout, "name:") {
			t.Errorf("%q: output does not show the queue:\n%s", tc.args, r.stdout)
		}
	}
}

func TestQueueUpdateSendsOnlyGivenFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *wharfv1.UpdateQueueRequest
	}{
		{[]string{"q", "--visibility", "0"},
			&wharfv1.UpdateQueueRequest{Queue: "q", VisibilityTimeoutSeconds: proto.Int32(0)}},
		{[]string{"q", "--content-based-dedup=false"},
			&wharfv1.UpdateQueueRequest{Queue: "q", ContentBasedDeduplication: proto.Bool(false)}},
		{[]string{"q", "--content-based-dedup", "--wait", "10"},
			&wharfv1.UpdateQueueRequest{Queue: "q", ContentBasedDeduplication: proto.Bool(true), ReceiveWaitTimeSeconds: proto.Int32(10)}},
		{[]string{"q", "--max-bytes", "2048", "--retention", "120", "--delay", "0"},
			&wharfv1.UpdateQueueRequest{Queue: "q", MaximumMessageBytes: proto.Int32(2048),
				MessageRetentionSeconds: proto.Int32(120), DelaySeconds: proto.Int32(0)}},
		{[]string{"q", "--dlq", "dead", "--max-receives", "5"},
			&wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "dead", MaxReceiveCount: 5}}},
		// An empty dead-letter queue removes the policy.
		{[]string{"q", "--dlq", ""},
			&wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{}}},
	} {
		svc := &fakeService{queue: &wharfv1.Queue{Name: "q"}}
		r := runCLI(t, svc, "", append([]string{"queue", "update"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", tc.args, r.code, r.stderr)
			continue
		}
		wantRequest(t, svc, tc.want)
	}

	r := runCLI(t, &fakeService{}, "", "queue", "update", "q", "--dlq", "", "--max-receives", "2")
	if r.code != 2 {
		t.Errorf("--dlq \"\" with --max-receives: exit %d, want 2", r.code)
	}
}

func TestQueueGetOutput(t *testing.T) {
	svc := &fakeService{queue: &wharfv1.Queue{
		Name:                                  "orders",
		Partitions:                            4,
		VisibilityTimeoutSeconds:              30,
		MessageRetentionSeconds:               345600,
		MaximumMessageBytes:                   262144,
		RedrivePolicy:                         &wharfv1.RedrivePolicy{DeadLetterQueue: "orders-dead", MaxReceiveCount: 3},
		ApproximateNumberOfMessages:           12,
		ApproximateNumberOfMessagesNotVisible: 2,
		CreatedTimestamp:                      1700000000123,
	}}
	r := runCLI(t, svc, "", "queue", "get", "orders")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.GetQueueRequest{Queue: "orders"})
	want := `name:                                       orders
fifo:                                       false
partitions:                                 4
content_based_deduplication:                false
visibility_timeout_seconds:                 30
message_retention_seconds:                  345600
delay_seconds:                              0
receive_wait_time_seconds:                  0
maximum_message_bytes:                      262144
redrive_policy:                             dead_letter_queue=orders-dead max_receive_count=3
approximate_number_of_messages:             12
approximate_number_of_messages_not_visible: 2
approximate_number_of_messages_delayed:     0
created_timestamp:                          2023-11-14T22:13:20.123Z
last_modified_timestamp:                    -
`
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestQueueListFollowsNextToken(t *testing.T) {
	svc := &fakeService{pages: map[string]*wharfv1.ListQueuesResponse{
		"":   {Queues: []string{"a", "b"}, NextToken: "t1"},
		"t1": {Queues: []string{"c"}, NextToken: "t2"},
		"t2": {Queues: []string{"d"}},
	}}
	r := runCLI(t, svc, "", "queue", "list", "--prefix", "x")
	if r.code != 0 || r.stdout != "a\nb\nc\nd\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if len(svc.requests) != 3 {
		t.Fatalf("made %d requests, want 3", len(svc.requests))
	}
	for i, token := range []string{"", "t1", "t2"} {
		want := &wharfv1.ListQueuesRequest{Prefix: "x", NextToken: token}
		if !proto.Equal(svc.requests[i], want) {
			t.Errorf("request %d = %v, want %v", i, svc.requests[i], want)
		}
	}

	// --json prints one response holding every page.
	svc.requests = nil
	r = runCLI(t, svc, "", "--json", "queue", "list")
	got := &wharfv1.ListQueuesResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if strings.Join(got.Queues, ",") != "a,b,c,d" || got.NextToken != "" {
		t.Errorf("got %v", got)
	}
}

func TestQueueListStopsOnRepeatedToken(t *testing.T) {
	svc := &fakeService{pages: map[string]*wharfv1.ListQueuesResponse{
		"":  {Queues: []string{"a"}, NextToken: "t"},
		"t": {Queues: []string{"b"}, NextToken: "t"},
	}}
	if r := runCLI(t, svc, "", "queue", "list"); r.code != 1 || !strings.Contains(r.stderr, "twice") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestQueueDeleteAndPurge(t *testing.T) {
	svc := &fakeService{}
	if r := runCLI(t, svc, "", "queue", "delete", "q"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.DeleteQueueRequest{Queue: "q"})

	svc = &fakeService{}
	if r := runCLI(t, svc, "", "queue", "purge", "q"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.PurgeQueueRequest{Queue: "q"})
}

package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"google.golang.org/protobuf/proto"
)

func i32(v int32) *int32 { return &v }

func boolp(v bool) *bool { return &v }

// expect checks err against a wanted invalid-argument field; field "" wants
// no error. msg, when set, must appear in the error text.
func expect(t *testing.T, err error, field, msg string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *core.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an invalid argument on %q", err, err, field)
	}
	if e.Code != core.InvalidArgument || e.Field != field {
		t.Fatalf("error = %v (code %v, field %q), want code %v on field %q", e, e.Code, e.Field, core.InvalidArgument, field)
	}
	if !strings.Contains(e.Error(), msg) {
		t.Fatalf("error = %q, want it to contain %q", e.Error(), msg)
	}
}

// expectInternal checks that err is an internal error: a caller's bug, not
// the client's.
func expectInternal(t *testing.T, err error) {
	t.Helper()
	if err == nil || core.CodeOf(err) != core.Internal {
		t.Fatalf("error = %v, want an internal error", err)
	}
}

func TestQueueName(t *testing.T) {
	tests := []struct {
		name  string
		field string
		msg   string
	}{
		{"a", "", ""},
		{"Orders-2024_eu", "", ""},
		{strings.Repeat("x", 80), "", ""},
		{"orders.fifo", "", ""},
		{strings.Repeat("x", 75) + ".fifo", "", ""},
		{"", "q", "must not be empty"},
		{strings.Repeat("x", 81), "q", "at most 80 characters, got 81"},
		{strings.Repeat("x", 76) + ".fifo", "q", "at most 80 characters, got 81"},
		{".fifo", "q", "before the \".fifo\" suffix"},
		{"a.b", "q", `invalid character '.' at offset 1`},
		{"a.fifo.fifo", "q", `invalid character '.' at offset 1`},
		{"a.FIFO", "q", `'.'`},
		{"a b", "q", `' '`},
		{"café", "q", "byte 0xC3 at offset 3"},
		{"a/b", "q", `'/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, QueueName("q", tt.name), tt.field, tt.msg)
		})
	}
}

func defaultAttrs(fifo bool) *raftv1.QueueAttributes {
	return &raftv1.QueueAttributes{
		Fifo:                     fifo,
		VisibilityTimeoutSeconds: 30,
		MessageRetentionSeconds:  345600,
		DelaySeconds:             0,
		ReceiveWaitTimeSeconds:   0,
		MaximumMessageBytes:      262144,
	}
}

func TestCreateQueue(t *testing.T) {
	with := func(f func(a *raftv1.QueueAttributes)) *raftv1.QueueAttributes {
		a := defaultAttrs(false)
		f(a)
		return a
	}
	withFIFO := func(f func(a *raftv1.QueueAttributes)) *raftv1.QueueAttributes {
		a := defaultAttrs(true)
		f(a)
		return a
	}
	tests := []struct {
		name  string
		req   *wharfv1.CreateQueueRequest
		want  *raftv1.QueueAttributes
		field string
		msg   string
	}{
		{name: "defaults", req: &wharfv1.CreateQueueRequest{Name: "q"}, want: defaultAttrs(false)},
		{name: "FIFO defaults", req: &wharfv1.CreateQueueRequest{Name: "q.fifo", Fifo: true}, want: defaultAttrs(true)},
		{
			name: "FIFO with content-based deduplication",
			req:  &wharfv1.CreateQueueRequest{Name: "q.fifo", Fifo: true, ContentBasedDeduplication: true},
			want: withFIFO(func(a *raftv1.QueueAttributes) { a.ContentBasedDeduplication = true }),
		},
		{
			name: "every attribute at its minimum",
			req: &wharfv1.CreateQueueRequest{Name: "q", VisibilityTimeoutSeconds: i32(0), MessageRetentionSeconds: i32(60),
				DelaySeconds: i32(0), ReceiveWaitTimeSeconds: i32(0), MaximumMessageBytes: i32(1024)},
			want: with(func(a *raftv1.QueueAttributes) {
				a.VisibilityTimeoutSeconds, a.MessageRetentionSeconds, a.MaximumMessageBytes = 0, 60, 1024
			}),
		},
		{
			name: "every attribute at its maximum",
			req: &wharfv1.CreateQueueRequest{Name: "q", VisibilityTimeoutSeconds: i32(43200), MessageRetentionSeconds: i32(1209600),
				DelaySeconds: i32(900), ReceiveWaitTimeSeconds: i32(20), MaximumMessageBytes: i32(1048576)},
			want: with(func(a *raftv1.QueueAttributes) {
				a.VisibilityTimeoutSeconds, a.MessageRetentionSeconds, a.DelaySeconds = 43200, 1209600, 900
				a.ReceiveWaitTimeSeconds, a.MaximumMessageBytes = 20, 1048576
			}),
		},
		{
			name: "redrive policy",
			req:  &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "dlq", MaxReceiveCount: 1}},
			want: with(func(a *raftv1.QueueAttributes) { a.DeadLetterQueue, a.MaxReceiveCount = "dlq", 1 }),
		},
		{
			name: "FIFO redrive policy",
			req: &wharfv1.CreateQueueRequest{Name: "q.fifo", Fifo: true,
				RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "dlq.fifo", MaxReceiveCount: 1000}},
			want: withFIFO(func(a *raftv1.QueueAttributes) { a.DeadLetterQueue, a.MaxReceiveCount = "dlq.fifo", 1000 }),
		},
		{name: "bad name", req: &wharfv1.CreateQueueRequest{Name: "a b"}, field: "name", msg: "invalid character"},
		{name: "empty name", req: &wharfv1.CreateQueueRequest{}, field: "name", msg: "must not be empty"},
		{name: "nil request", req: nil, field: "name", msg: "must not be empty"},
		{name: "FIFO name without fifo", req: &wharfv1.CreateQueueRequest{Name: "q.fifo"}, field: "name", msg: `must not end in ".fifo"`},
		{name: "fifo without FIFO name", req: &wharfv1.CreateQueueRequest{Name: "q", Fifo: true}, field: "name", msg: `must end in ".fifo"`},
		{
			name:  "content-based deduplication on a standard queue",
			req:   &wharfv1.CreateQueueRequest{Name: "q", ContentBasedDeduplication: true},
			field: "content_based_deduplication", msg: "only FIFO",
		},
		{
			name:  "visibility too high",
			req:   &wharfv1.CreateQueueRequest{Name: "q", VisibilityTimeoutSeconds: i32(50000)},
			field: "visibility_timeout_seconds", msg: "visibility_timeout_seconds: must be between 0 and 43200, got 50000",
		},
		{name: "visibility negative", req: &wharfv1.CreateQueueRequest{Name: "q", VisibilityTimeoutSeconds: i32(-1)}, field: "visibility_timeout_seconds"},
		{name: "retention too low", req: &wharfv1.CreateQueueRequest{Name: "q", MessageRetentionSeconds: i32(59)}, field: "message_retention_seconds", msg: "between 60 and 1209600"},
		{name: "retention too high", req: &wharfv1.CreateQueueRequest{Name: "q", MessageRetentionSeconds: i32(1209601)}, field: "message_retention_seconds"},
		{name: "delay too high", req: &wharfv1.CreateQueueRequest{Name: "q", DelaySeconds: i32(901)}, field: "delay_seconds", msg: "between 0 and 900"},
		{name: "delay negative", req: &wharfv1.CreateQueueRequest{Name: "q", DelaySeconds: i32(-1)}, field: "delay_seconds"},
		{name: "wait too high", req: &wharfv1.CreateQueueRequest{Name: "q", ReceiveWaitTimeSeconds: i32(21)}, field: "receive_wait_time_seconds", msg: "between 0 and 20"},
		{name: "wait negative", req: &wharfv1.CreateQueueRequest{Name: "q", ReceiveWaitTimeSeconds: i32(-1)}, field: "receive_wait_time_seconds"},
		{name: "size too low", req: &wharfv1.CreateQueueRequest{Name: "q", MaximumMessageBytes: i32(1023)}, field: "maximum_message_bytes", msg: "between 1024 and 1048576"},
		{name: "size too high", req: &wharfv1.CreateQueueRequest{Name: "q", MaximumMessageBytes: i32(1048577)}, field: "maximum_message_bytes"},
		{
			name:  "redrive policy without dead-letter queue",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{MaxReceiveCount: 3}},
			field: "redrive_policy.dead_letter_queue", msg: "must not be empty",
		},
		{
			name:  "bad dead-letter queue name",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d l q", MaxReceiveCount: 3}},
			field: "redrive_policy.dead_letter_queue", msg: "invalid character",
		},
		{
			name:  "own dead-letter queue",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "q", MaxReceiveCount: 3}},
			field: "redrive_policy.dead_letter_queue", msg: "own dead-letter queue",
		},
		{
			name:  "standard queue with FIFO dead-letter queue",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d.fifo", MaxReceiveCount: 3}},
			field: "redrive_policy.dead_letter_queue", msg: "must be a standard queue",
		},
		{
			name: "FIFO queue with standard dead-letter queue",
			req: &wharfv1.CreateQueueRequest{Name: "q.fifo", Fifo: true,
				RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d", MaxReceiveCount: 3}},
			field: "redrive_policy.dead_letter_queue", msg: "must be a FIFO queue",
		},
		{
			name:  "max receive count 0",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d"}},
			field: "redrive_policy.max_receive_count", msg: "between 1 and 1000, got 0",
		},
		{
			name:  "max receive count too high",
			req:   &wharfv1.CreateQueueRequest{Name: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d", MaxReceiveCount: 1001}},
			field: "redrive_policy.max_receive_count",
		},
		{name: "64 partitions", req: &wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(64)}, want: defaultAttrs(false)},
		{name: "0 partitions", req: &wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(0)}, field: "partitions", msg: "partitions: must be between 1 and 64, got 0"},
		{name: "65 partitions", req: &wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(65)}, field: "partitions", msg: "between 1 and 64, got 65"},
		{name: "negative partitions", req: &wharfv1.CreateQueueRequest{Name: "q.fifo", Fifo: true, Partitions: i32(-1)}, field: "partitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CreateQueue(tt.req)
			expect(t, err, tt.field, tt.msg)
			if tt.field == "" && !proto.Equal(got, tt.want) {
				t.Fatalf("attributes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartitions(t *testing.T) {
	for _, tt := range []struct {
		req  *wharfv1.CreateQueueRequest
		want int32
		ok   bool
	}{
		{nil, 1, true},
		{&wharfv1.CreateQueueRequest{Name: "q"}, 1, true},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(1)}, 1, true},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(4)}, 4, true},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(64)}, 64, true},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(0)}, 0, false},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(65)}, 0, false},
		{&wharfv1.CreateQueueRequest{Name: "q", Partitions: i32(-1)}, 0, false},
	} {
		got, err := Partitions(tt.req)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("Partitions(%v) = %d, %v; want %d", tt.req, got, err, tt.want)
			}
			continue
		}
		expect(t, err, "partitions", "must be between 1 and 64")
	}
}

func TestUpdateQueue(t *testing.T) {
	std := func(f func(a *raftv1.QueueAttributes)) *raftv1.QueueAttributes {
		a := defaultAttrs(false)
		a.DeadLetterQueue, a.MaxReceiveCount = "dlq", 5
		if f != nil {
			f(a)
		}
		return a
	}
	fifo := func(f func(a *raftv1.QueueAttributes)) *raftv1.QueueAttributes {
		a := defaultAttrs(true)
		if f != nil {
			f(a)
		}
		return a
	}
	tests := []struct {
		name    string
		req     *wharfv1.UpdateQueueRequest
		current *raftv1.QueueAttributes
		want    *raftv1.QueueAttributes
		field   string
		msg     string
	}{
		{name: "nothing set", req: &wharfv1.UpdateQueueRequest{Queue: "q"}, current: std(nil), want: std(nil)},
		{
			name: "only set fields change",
			req: &wharfv1.UpdateQueueRequest{Queue: "q", VisibilityTimeoutSeconds: i32(0), MessageRetentionSeconds: i32(60),
				DelaySeconds: i32(900), ReceiveWaitTimeSeconds: i32(20), MaximumMessageBytes: i32(1024)},
			current: std(nil),
			want: std(func(a *raftv1.QueueAttributes) {
				a.VisibilityTimeoutSeconds, a.MessageRetentionSeconds, a.DelaySeconds = 0, 60, 900
				a.ReceiveWaitTimeSeconds, a.MaximumMessageBytes = 20, 1024
			}),
		},
		{
			name:    "one field",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", DelaySeconds: i32(5)},
			current: std(nil),
			want:    std(func(a *raftv1.QueueAttributes) { a.DelaySeconds = 5 }),
		},
		{
			name:    "enable content-based deduplication",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q.fifo", ContentBasedDeduplication: boolp(true)},
			current: fifo(nil),
			want:    fifo(func(a *raftv1.QueueAttributes) { a.ContentBasedDeduplication = true }),
		},
		{
			name:    "disable content-based deduplication",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q.fifo", ContentBasedDeduplication: boolp(false)},
			current: fifo(func(a *raftv1.QueueAttributes) { a.ContentBasedDeduplication = true }),
			want:    fifo(nil),
		},
		{
			name:    "content-based deduplication false on a standard queue",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", ContentBasedDeduplication: boolp(false)},
			current: std(nil),
			want:    std(nil),
		},
		{
			name:    "content-based deduplication on a standard queue",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", ContentBasedDeduplication: boolp(true)},
			current: std(nil),
			field:   "content_based_deduplication", msg: "only FIFO",
		},
		{
			name:    "remove the redrive policy",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{MaxReceiveCount: 9}},
			current: std(nil),
			want:    std(func(a *raftv1.QueueAttributes) { a.DeadLetterQueue, a.MaxReceiveCount = "", 0 }),
		},
		{
			name:    "replace the redrive policy",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "other", MaxReceiveCount: 9}},
			current: std(nil),
			want:    std(func(a *raftv1.QueueAttributes) { a.DeadLetterQueue, a.MaxReceiveCount = "other", 9 }),
		},
		{
			name:    "FIFO redrive policy",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q.fifo", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d.fifo", MaxReceiveCount: 2}},
			current: fifo(nil),
			want:    fifo(func(a *raftv1.QueueAttributes) { a.DeadLetterQueue, a.MaxReceiveCount = "d.fifo", 2 }),
		},
		{
			name:    "dead-letter queue of the other kind",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q.fifo", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d", MaxReceiveCount: 2}},
			current: fifo(nil),
			field:   "redrive_policy.dead_letter_queue", msg: "must be a FIFO queue",
		},
		{
			name:    "own dead-letter queue",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "q", MaxReceiveCount: 2}},
			current: std(nil),
			field:   "redrive_policy.dead_letter_queue",
		},
		{
			name:    "bad max receive count",
			req:     &wharfv1.UpdateQueueRequest{Queue: "q", RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "d", MaxReceiveCount: 0}},
			current: std(nil),
			field:   "redrive_policy.max_receive_count",
		},
		{name: "bad queue name", req: &wharfv1.UpdateQueueRequest{Queue: "q?"}, current: std(nil), field: "queue"},
		{name: "no queue name", req: &wharfv1.UpdateQueueRequest{}, current: std(nil), field: "queue"},
		{name: "nil request", req: nil, current: std(nil), field: "queue"},
		{name: "visibility too high", req: &wharfv1.UpdateQueueRequest{Queue: "q", VisibilityTimeoutSeconds: i32(43201)}, current: std(nil), field: "visibility_timeout_seconds"},
		{name: "retention too low", req: &wharfv1.UpdateQueueRequest{Queue: "q", MessageRetentionSeconds: i32(0)}, current: std(nil), field: "message_retention_seconds"},
		{name: "delay too high", req: &wharfv1.UpdateQueueRequest{Queue: "q", DelaySeconds: i32(901)}, current: std(nil), field: "delay_seconds"},
		{name: "wait too high", req: &wharfv1.UpdateQueueRequest{Queue: "q", ReceiveWaitTimeSeconds: i32(21)}, current: std(nil), field: "receive_wait_time_seconds"},
		{name: "size too high", req: &wharfv1.UpdateQueueRequest{Queue: "q", MaximumMessageBytes: i32(1 << 21)}, current: std(nil), field: "maximum_message_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.CloneOf(tt.current)
			got, err := UpdateQueue(tt.req, tt.current)
			expect(t, err, tt.field, tt.msg)
			if tt.field == "" && !proto.Equal(got, tt.want) {
				t.Fatalf("attributes = %v, want %v", got, tt.want)
			}
			if !proto.Equal(tt.current, before) {
				t.Fatalf("UpdateQueue modified current: %v", tt.current)
			}
		})
	}
	t.Run("no current attributes", func(t *testing.T) {
		_, err := UpdateQueue(&wharfv1.UpdateQueueRequest{Queue: "q"}, nil)
		expectInternal(t, err)
	})
}

func TestReceive(t *testing.T) {
	attrs := defaultAttrs(false)
	attrs.VisibilityTimeoutSeconds, attrs.ReceiveWaitTimeSeconds = 45, 7
	tests := []struct {
		name           string
		req            *wharfv1.ReceiveMessageRequest
		max, vis, wait int32
		field, msg     string
	}{
		{name: "defaults from the queue", req: &wharfv1.ReceiveMessageRequest{}, max: 1, vis: 45, wait: 7},
		{name: "nil request", req: nil, max: 1, vis: 45, wait: 7},
		{
			name: "everything set",
			req:  &wharfv1.ReceiveMessageRequest{MaxMessages: 10, VisibilityTimeoutSeconds: i32(43200), WaitTimeSeconds: i32(20)},
			max:  10, vis: 43200, wait: 20,
		},
		{
			name: "zeros that are set",
			req:  &wharfv1.ReceiveMessageRequest{MaxMessages: 1, VisibilityTimeoutSeconds: i32(0), WaitTimeSeconds: i32(0)},
			max:  1, vis: 0, wait: 0,
		},
		{
			name: "attempt id of 128 printable characters",
			req:  &wharfv1.ReceiveMessageRequest{ReceiveRequestAttemptId: strings.Repeat("!~", 64)},
			max:  1, vis: 45, wait: 7,
		},
		{name: "too many messages", req: &wharfv1.ReceiveMessageRequest{MaxMessages: 11}, field: "max_messages", msg: "between 1 and 10, got 11"},
		{name: "negative messages", req: &wharfv1.ReceiveMessageRequest{MaxMessages: -1}, field: "max_messages"},
		{name: "visibility too high", req: &wharfv1.ReceiveMessageRequest{VisibilityTimeoutSeconds: i32(43201)}, field: "visibility_timeout_seconds"},
		{name: "visibility negative", req: &wharfv1.ReceiveMessageRequest{VisibilityTimeoutSeconds: i32(-1)}, field: "visibility_timeout_seconds"},
		{name: "wait too long", req: &wharfv1.ReceiveMessageRequest{WaitTimeSeconds: i32(21)}, field: "wait_time_seconds", msg: "between 0 and 20"},
		{name: "wait negative", req: &wharfv1.ReceiveMessageRequest{WaitTimeSeconds: i32(-1)}, field: "wait_time_seconds"},
		{
			name:  "attempt id too long",
			req:   &wharfv1.ReceiveMessageRequest{ReceiveRequestAttemptId: strings.Repeat("a", 129)},
			field: "receive_request_attempt_id", msg: "at most 128",
		},
		{
			name:  "attempt id with a space",
			req:   &wharfv1.ReceiveMessageRequest{ReceiveRequestAttemptId: "a b"},
			field: "receive_request_attempt_id", msg: "printable ASCII",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max, vis, wait, err := Receive(tt.req, attrs)
			expect(t, err, tt.field, tt.msg)
			if tt.field == "" && (max != tt.max || vis != tt.vis || wait != tt.wait) {
				t.Fatalf("Receive = %d, %d, %d; want %d, %d, %d", max, vis, wait, tt.max, tt.vis, tt.wait)
			}
		})
	}
	t.Run("no attributes", func(t *testing.T) {
		_, _, _, err := Receive(&wharfv1.ReceiveMessageRequest{}, nil)
		expectInternal(t, err)
	})
}

func TestVisibilityTimeout(t *testing.T) {
	for _, tt := range []struct {
		v     int32
		field string
	}{
		{0, ""}, {1, ""}, {43200, ""}, {-1, "entries[2].visibility_timeout_seconds"}, {43201, "entries[2].visibility_timeout_seconds"},
	} {
		expect(t, VisibilityTimeout("entries[2].visibility_timeout_seconds", tt.v), tt.field, "")
	}
}

func TestBatchIDs(t *testing.T) {
	tests := []struct {
		name       string
		ids        []string
		field, msg string
	}{
		{name: "one", ids: []string{"a"}},
		{name: "ten", ids: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{name: "longest id", ids: []string{strings.Repeat("A_-z9", 16)}},
		{name: "none", ids: nil, field: "entries", msg: "must hold 1 to 10 entries, got 0"},
		{name: "eleven", ids: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, field: "entries", msg: "got 11"},
		{name: "empty id", ids: []string{"a", ""}, field: "entries[1].id", msg: "must not be empty"},
		{name: "long id", ids: []string{strings.Repeat("a", 81)}, field: "entries[0].id", msg: "at most 80"},
		{name: "bad character", ids: []string{"a", "b", "c.d"}, field: "entries[2].id", msg: "'.'"},
		{name: "duplicate", ids: []string{"a", "b", "a"}, field: "entries[2].id", msg: `entries[2].id: duplicate id "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := BatchIDs(len(tt.ids), func(i int) string { return tt.ids[i] })
			expect(t, err, tt.field, tt.msg)
		})
	}
}

func TestListQueues(t *testing.T) {
	tests := []struct {
		name       string
		req        *wharfv1.ListQueuesRequest
		prefix     string
		max        int
		field, msg string
	}{
		{name: "defaults", req: &wharfv1.ListQueuesRequest{}, max: 1000},
		{name: "nil request", req: nil, max: 1000},
		{name: "one", req: &wharfv1.ListQueuesRequest{MaxResults: 1}, max: 1},
		{name: "thousand", req: &wharfv1.ListQueuesRequest{MaxResults: 1000}, max: 1000},
		{name: "prefix", req: &wharfv1.ListQueuesRequest{Prefix: "orders-", MaxResults: 5}, prefix: "orders-", max: 5},
		{name: "prefix of a FIFO name", req: &wharfv1.ListQueuesRequest{Prefix: "q.fi"}, prefix: "q.fi", max: 1000},
		{name: "too many", req: &wharfv1.ListQueuesRequest{MaxResults: 1001}, field: "max_results", msg: "between 1 and 1000, got 1001"},
		{name: "negative", req: &wharfv1.ListQueuesRequest{MaxResults: -1}, field: "max_results"},
		{name: "prefix too long", req: &wharfv1.ListQueuesRequest{Prefix: strings.Repeat("a", 81)}, field: "prefix", msg: "at most 80"},
		{name: "url as prefix", req: &wharfv1.ListQueuesRequest{Prefix: "http://x/q"}, field: "prefix", msg: "':'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, max, err := ListQueues(tt.req)
			expect(t, err, tt.field, tt.msg)
			if tt.field == "" && (prefix != tt.prefix || max != tt.max) {
				t.Fatalf("ListQueues = %q, %d; want %q, %d", prefix, max, tt.prefix, tt.max)
			}
		})
	}
}

func TestEntryPrefix(t *testing.T) {
	if got := EntryPrefix(3); got != "entries[3]." {
		t.Fatalf("EntryPrefix(3) = %q", got)
	}
}

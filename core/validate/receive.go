package validate

import (
	"strconv"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Receive checks a ReceiveMessageRequest for a queue with attributes attrs
// and returns how many messages to return (1 when unset), their visibility
// timeout and how long to wait, the last two taken from the queue when
// unset.
func Receive(req *wharfv1.ReceiveMessageRequest, attrs *raftv1.QueueAttributes) (max, visibility, wait int32, err error) {
	if req == nil {
		req = &wharfv1.ReceiveMessageRequest{} // the optional fields are read directly below
	}
	if attrs == nil {
		return 0, 0, 0, core.Errorf(core.Internal, "validate: receive from a queue without attributes")
	}
	switch max = req.GetMaxMessages(); {
	case max == 0:
		max = 1
	case max < 1 || max > core.MaxReceiveMessages:
		return 0, 0, 0, core.FieldError("max_messages", "must be between 1 and %d, got %d", core.MaxReceiveMessages, max)
	}
	visibility = attrs.GetVisibilityTimeoutSeconds()
	if v := req.VisibilityTimeoutSeconds; v != nil {
		if err := visibilityBound.check(*v); err != nil {
			return 0, 0, 0, err
		}
		visibility = *v
	}
	wait = attrs.GetReceiveWaitTimeSeconds()
	if v := req.WaitTimeSeconds; v != nil {
		b := waitBound
		b.field = "wait_time_seconds"
		if err := b.check(*v); err != nil {
			return 0, 0, 0, err
		}
		wait = *v
	}
	// Only FIFO queues use the attempt id; standard queues accept and
	// ignore it, as SQS does, so it is checked the same for both.
	if err := printable("receive_request_attempt_id", req.GetReceiveRequestAttemptId(), core.MaxAttemptIDLength); err != nil {
		return 0, 0, 0, err
	}
	return max, visibility, wait, nil
}

// VisibilityTimeout checks a visibility timeout (0 to 12 hours) held in
// field.
func VisibilityTimeout(field string, v int32) error {
	b := visibilityBound
	b.field = field
	return b.check(v)
}

// BatchIDs checks the ids of a batch request's n entries: 1 to 10 entries,
// each id 1 to 80 characters of [A-Za-z0-9_-], all distinct. id returns
// entry i's id.
func BatchIDs(n int, id func(i int) string) error {
	if n < 1 || n > core.MaxBatchEntries {
		return core.FieldError("entries", "must hold 1 to %d entries, got %d", core.MaxBatchEntries, n)
	}
	seen := make(map[string]bool, n)
	for i := range n {
		field := EntryPrefix(i) + "id"
		s := id(i)
		if err := idString(field, s, core.MaxBatchEntryIDLength); err != nil {
			return err
		}
		if seen[s] {
			return core.FieldError(field, "duplicate id %q", s)
		}
		seen[s] = true
	}
	return nil
}

// EntryPrefix is the prefix of the fields of batch entry i, "entries[i].",
// for SendEntry and for errors about an entry.
func EntryPrefix(i int) string { return "entries[" + strconv.Itoa(i) + "]." }

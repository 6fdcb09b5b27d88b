package validate

import (
	"strings"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"google.golang.org/protobuf/proto"
)

// FIFOSuffix ends the name of every FIFO queue and of no standard queue.
const FIFOSuffix = ".fifo"

const dlqField = "redrive_policy.dead_letter_queue"

// QueueName checks a queue name: 1 to 80 characters of [A-Za-z0-9_-], where
// a FIFO queue's name ends in ".fifo" (counted in the 80). field names the
// request field holding it.
func QueueName(field, name string) error {
	if name == "" {
		return core.FieldError(field, "must not be empty")
	}
	if len(name) > core.MaxQueueNameLength {
		return core.FieldError(field, "must be at most %d characters, got %d", core.MaxQueueNameLength, len(name))
	}
	base := strings.TrimSuffix(name, FIFOSuffix)
	if base == "" {
		return core.FieldError(field, "must have characters before the %q suffix", FIFOSuffix)
	}
	for i := 0; i < len(base); i++ {
		if !isIDChar(base[i]) {
			return core.FieldError(field, "invalid character %s at offset %d: only letters, digits, '-' and '_' are allowed, plus a %q suffix for FIFO queues",
				describe(base[i]), i, FIFOSuffix)
		}
	}
	return nil
}

// IsFIFOName reports whether name is a FIFO queue's name.
func IsFIFOName(name string) bool { return strings.HasSuffix(name, FIFOSuffix) }

// CreateQueue checks a CreateQueueRequest and returns the new queue's
// attributes, with the SQS default for every attribute left unset.
func CreateQueue(req *wharfv1.CreateQueueRequest) (*raftv1.QueueAttributes, error) {
	if req == nil {
		req = &wharfv1.CreateQueueRequest{} // the optional fields are read directly below
	}
	name, fifo := req.GetName(), req.GetFifo()
	if err := QueueName("name", name); err != nil {
		return nil, err
	}
	// The name says the kind, as in SQS, so that a client can never mistake
	// one kind of queue for the other.
	switch {
	case fifo && !IsFIFOName(name):
		return nil, core.FieldError("name", "a FIFO queue's name must end in %q", FIFOSuffix)
	case !fifo && IsFIFOName(name):
		return nil, core.FieldError("name", "a standard queue's name must not end in %q; set fifo to create a FIFO queue", FIFOSuffix)
	}
	if req.GetContentBasedDeduplication() && !fifo {
		return nil, core.FieldError("content_based_deduplication", "only FIFO queues support content-based deduplication")
	}
	if _, err := Partitions(req); err != nil {
		return nil, err
	}
	attrs := &raftv1.QueueAttributes{
		Fifo:                      fifo,
		ContentBasedDeduplication: req.GetContentBasedDeduplication(),
	}
	for _, f := range []struct {
		b   bound
		in  *int32
		out *int32
	}{
		{visibilityBound, req.VisibilityTimeoutSeconds, &attrs.VisibilityTimeoutSeconds},
		{retentionBound, req.MessageRetentionSeconds, &attrs.MessageRetentionSeconds},
		{delayBound, req.DelaySeconds, &attrs.DelaySeconds},
		{waitBound, req.ReceiveWaitTimeSeconds, &attrs.ReceiveWaitTimeSeconds},
		{sizeBound, req.MaximumMessageBytes, &attrs.MaximumMessageBytes},
	} {
		v, err := f.b.resolve(f.in)
		if err != nil {
			return nil, err
		}
		*f.out = v
	}
	if rp := req.GetRedrivePolicy(); rp != nil {
		// On create an empty policy can only be a mistake: omitting it is
		// how to ask for none.
		if rp.GetDeadLetterQueue() == "" {
			return nil, core.FieldError(dlqField, "must not be empty; omit redrive_policy for a queue without a dead-letter queue")
		}
		if err := redrive(name, fifo, rp, attrs); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

// Partitions returns the partition count a CreateQueueRequest asks for:
// 1 to core.MaxPartitions, 1 when unset. CreateQueue checks it too.
func Partitions(req *wharfv1.CreateQueueRequest) (int32, error) {
	if req == nil {
		return partitionsBound.def, nil
	}
	return partitionsBound.resolve(req.Partitions)
}

// UpdateQueue checks an UpdateQueueRequest against the queue's current
// attributes and returns the new attributes: current with the set fields
// replaced. current is not modified.
func UpdateQueue(req *wharfv1.UpdateQueueRequest, current *raftv1.QueueAttributes) (*raftv1.QueueAttributes, error) {
	if req == nil {
		req = &wharfv1.UpdateQueueRequest{} // the optional fields are read directly below
	}
	name := req.GetQueue()
	if err := QueueName("queue", name); err != nil {
		return nil, err
	}
	if current == nil {
		return nil, core.Errorf(core.Internal, "validate: queue %q has no attributes to update", name)
	}
	attrs := proto.CloneOf(current)
	if v := req.ContentBasedDeduplication; v != nil {
		if *v && !attrs.GetFifo() {
			return nil, core.FieldError("content_based_deduplication", "only FIFO queues support content-based deduplication")
		}
		attrs.ContentBasedDeduplication = *v
	}
	for _, f := range []struct {
		b   bound
		in  *int32
		out *int32
	}{
		{visibilityBound, req.VisibilityTimeoutSeconds, &attrs.VisibilityTimeoutSeconds},
		{retentionBound, req.MessageRetentionSeconds, &attrs.MessageRetentionSeconds},
		{delayBound, req.DelaySeconds, &attrs.DelaySeconds},
		{waitBound, req.ReceiveWaitTimeSeconds, &attrs.ReceiveWaitTimeSeconds},
		{sizeBound, req.MaximumMessageBytes, &attrs.MaximumMessageBytes},
	} {
		if f.in == nil {
			continue
		}
		if err := f.b.check(*f.in); err != nil {
			return nil, err
		}
		*f.out = *f.in
	}
	if rp := req.GetRedrivePolicy(); rp != nil {
		if rp.GetDeadLetterQueue() == "" {
			// The documented way to remove the policy.
			attrs.DeadLetterQueue, attrs.MaxReceiveCount = "", 0
		} else if err := redrive(name, attrs.GetFifo(), rp, attrs); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

// redrive checks a redrive policy with a dead-letter queue for the queue
// called name, of the kind fifo, and stores it in attrs. Whether the
// dead-letter queue exists is for the metadata shard to say.
func redrive(name string, fifo bool, rp *wharfv1.RedrivePolicy, attrs *raftv1.QueueAttributes) error {
	dlq := rp.GetDeadLetterQueue()
	if err := QueueName(dlqField, dlq); err != nil {
		return err
	}
	if dlq == name {
		return core.FieldError(dlqField, "queue %q cannot be its own dead-letter queue", name)
	}
	if IsFIFOName(dlq) != fifo {
		if fifo {
			return core.FieldError(dlqField, "a FIFO queue's dead-letter queue must be a FIFO queue, got %q", dlq)
		}
		return core.FieldError(dlqField, "a standard queue's dead-letter queue must be a standard queue, got %q", dlq)
	}
	count := rp.GetMaxReceiveCount()
	b := receiveBound
	b.field = "redrive_policy.max_receive_count"
	if err := b.check(count); err != nil {
		return err
	}
	attrs.DeadLetterQueue, attrs.MaxReceiveCount = dlq, count
	return nil
}

// ListQueues checks a ListQueuesRequest and returns its prefix and page size
// (max_results, 1000 when unset).
func ListQueues(req *wharfv1.ListQueuesRequest) (prefix string, max int, err error) {
	prefix = req.GetPrefix()
	// A prefix is a beginning of a queue name, so it has a name's
	// characters and length; anything else is a client mistake (such as
	// passing a queue URL) better reported than answered with nothing.
	if len(prefix) > core.MaxQueueNameLength {
		return "", 0, core.FieldError("prefix", "must be at most %d characters, got %d", core.MaxQueueNameLength, len(prefix))
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isIDChar(c) && c != '.' {
			return "", 0, core.FieldError("prefix", "invalid character %s at offset %d: queue names hold only letters, digits, '-', '_' and a %q suffix",
				describe(c), i, FIFOSuffix)
		}
	}
	switch n := req.GetMaxResults(); {
	case n == 0:
		max = core.MaxListQueuesResults
	case n < 1 || n > core.MaxListQueuesResults:
		return "", 0, core.FieldError("max_results", "must be between 1 and %d, got %d", core.MaxListQueuesResults, n)
	default:
		max = int(n)
	}
	return prefix, max, nil
}

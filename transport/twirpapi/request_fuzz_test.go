package twirpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/validate"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// validatingService checks every request with core/validate as the node
// does (core/node/api_*.go), against a queue whose attributes are the
// defaults (FIFO when the name says so), and answers an empty response.
// A panic anywhere between the body and the answer is a 500.
type validatingService struct{}

func (validatingService) attrs(name string) *raftv1.QueueAttributes {
	a, err := validate.CreateQueue(&wharfv1.CreateQueueRequest{Name: name, Fifo: validate.IsFIFOName(name)})
	if err != nil {
		a, _ = validate.CreateQueue(&wharfv1.CreateQueueRequest{Name: "q"})
	}
	return a
}

func (validatingService) CreateQueue(_ context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	if _, err := validate.CreateQueue(req); err != nil {
		return nil, err
	}
	if _, err := validate.Partitions(req); err != nil {
		return nil, err
	}
	return &wharfv1.CreateQueueResponse{}, nil
}

func (validatingService) DeleteQueue(_ context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	return &wharfv1.DeleteQueueResponse{}, validate.QueueName("queue", req.GetQueue())
}

func (validatingService) ListQueues(_ context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	_, _, err := validate.ListQueues(req)
	return &wharfv1.ListQueuesResponse{}, err
}

func (validatingService) GetQueue(_ context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	return &wharfv1.GetQueueResponse{}, validate.QueueName("queue", req.GetQueue())
}

func (s validatingService) UpdateQueue(_ context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	_, err := validate.UpdateQueue(req, s.attrs(req.GetQueue()))
	return &wharfv1.UpdateQueueResponse{}, err
}

func (validatingService) PurgeQueue(_ context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	return &wharfv1.PurgeQueueResponse{}, validate.QueueName("queue", req.GetQueue())
}

// partition is the configuration the node would put in a command to the
// queue's first partition (core/node/partition.go).
func (s validatingService) partition(queue string) *raftv1.PartitionConfig {
	a := s.attrs(queue)
	return &raftv1.PartitionConfig{
		QueueId: 1, PartitionId: 1, QueueName: queue, Fifo: a.GetFifo(),
		ContentBasedDeduplication: a.GetContentBasedDeduplication(),
		VisibilityTimeoutSeconds:  a.GetVisibilityTimeoutSeconds(),
		MessageRetentionSeconds:   a.GetMessageRetentionSeconds(),
		DelaySeconds:              a.GetDelaySeconds(),
		MaximumMessageBytes:       a.GetMaximumMessageBytes(),
	}
}

// applyRefuses returns an internal error (a 500, which fails the fuzz
// target) when the queue shard's own check refuses a command built from a
// request the API accepted: the node would propose a command Apply
// refuses, and the client would get an error for a valid request.
func applyRefuses(cmd *raftv1.QueueCommand) error {
	cmd.NowMs = 1_700_000_000_000
	if err := validate.QueueCommand(cmd); err != nil {
		return core.Errorf(core.Internal, "the API accepted what Apply refuses: %v", err)
	}
	return nil
}

func (s validatingService) send(prefix, queue, body string, delay *int32, attrs map[string]*wharfv1.MessageAttributeValue, group, dedup, requestID string) error {
	qa := s.attrs(queue)
	delaySeconds, err := validate.SendEntry(prefix, qa, body, delay, attrs, group, dedup)
	if err != nil {
		return err
	}
	if err := validate.RequestID(prefix, requestID); err != nil {
		return err
	}
	if requestID == "" {
		requestID = "node:00000000-0000-4000-8000-000000000000"
	}
	// As core/node's sendEntry builds it.
	return applyRefuses(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Send{Send: &raftv1.Send{
		Partition: s.partition(queue),
		Entries: []*raftv1.SendEntry{{
			MessageId: "00000000-0000-4000-8000-000000000000", Body: body, DelaySeconds: delaySeconds, Attributes: attrs,
			GroupId: group, DeduplicationId: validate.DedupID(qa, body, dedup), RequestId: requestID,
		}},
	}}})
}

func (s validatingService) SendMessage(_ context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	return &wharfv1.SendMessageResponse{}, s.send("", req.GetQueue(), req.GetBody(), req.DelaySeconds, req.GetAttributes(),
		req.GetMessageGroupId(), req.GetMessageDeduplicationId(), req.GetRequestId())
}

func (s validatingService) SendMessageBatch(_ context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	in := req.GetEntries()
	if err := validate.BatchIDs(len(in), func(i int) string { return in[i].GetId() }); err != nil {
		return nil, err
	}
	for i, e := range in {
		// An entry's own error goes in the batch answer; a mismatch with
		// Apply's check fails the request.
		err := s.send(validate.EntryPrefix(i), req.GetQueue(), e.GetBody(), e.DelaySeconds, e.GetAttributes(),
			e.GetMessageGroupId(), e.GetMessageDeduplicationId(), e.GetRequestId())
		if err != nil && core.CodeOf(err) == core.Internal {
			return nil, err
		}
	}
	return &wharfv1.SendMessageBatchResponse{}, nil
}

func (s validatingService) ReceiveMessage(_ context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	max, visibility, _, err := validate.Receive(req, s.attrs(req.GetQueue()))
	if err != nil {
		return nil, err
	}
	var attemptID string // as core/node's receiveMessages: FIFO queues only
	if validate.IsFIFOName(req.GetQueue()) {
		attemptID = req.GetReceiveRequestAttemptId()
	}
	return &wharfv1.ReceiveMessageResponse{}, applyRefuses(&raftv1.QueueCommand{Op: &raftv1.QueueCommand_Receive{Receive: &raftv1.Receive{
		Partition: s.partition(req.GetQueue()), MaxMessages: max, VisibilityTimeoutSeconds: visibility, AttemptId: attemptID,
	}}})
}

func (validatingService) DeleteMessage(_ context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	return &wharfv1.DeleteMessageResponse{}, validate.QueueName("queue", req.GetQueue())
}

func (validatingService) DeleteMessageBatch(_ context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	in := req.GetEntries()
	return &wharfv1.DeleteMessageBatchResponse{}, validate.BatchIDs(len(in), func(i int) string { return in[i].GetId() })
}

func (validatingService) ChangeMessageVisibility(_ context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	return &wharfv1.ChangeMessageVisibilityResponse{}, validate.VisibilityTimeout("visibility_timeout_seconds", req.GetVisibilityTimeoutSeconds())
}

func (validatingService) ChangeMessageVisibilityBatch(_ context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	if err := validate.QueueName("queue", req.GetQueue()); err != nil {
		return nil, err
	}
	in := req.GetEntries()
	if err := validate.BatchIDs(len(in), func(i int) string { return in[i].GetId() }); err != nil {
		return nil, err
	}
	for i, e := range in {
		_ = validate.VisibilityTimeout(validate.EntryPrefix(i)+"visibility_timeout_seconds", e.GetVisibilityTimeoutSeconds())
	}
	return &wharfv1.ChangeMessageVisibilityBatchResponse{}, nil
}

// fuzzMethods are the QueueService methods, with a request each for the
// seed corpus.
var fuzzMethods = []struct {
	name string
	req  proto.Message
}{
	{"CreateQueue", &wharfv1.CreateQueueRequest{Name: "jobs.fifo", Fifo: true, RedrivePolicy: &wharfv1.RedrivePolicy{DeadLetterQueue: "dlq.fifo", MaxReceiveCount: 3}}},
	{"DeleteQueue", &wharfv1.DeleteQueueRequest{Queue: "jobs"}},
	{"ListQueues", &wharfv1.ListQueuesRequest{Prefix: "j"}},
	{"GetQueue", &wharfv1.GetQueueRequest{Queue: "jobs"}},
	{"UpdateQueue", &wharfv1.UpdateQueueRequest{Queue: "jobs", VisibilityTimeoutSeconds: proto.Int32(60)}},
	{"PurgeQueue", &wharfv1.PurgeQueueRequest{Queue: "jobs"}},
	{"SendMessage", &wharfv1.SendMessageRequest{Queue: "jobs", Body: "hello", RequestId: "r-1", Attributes: map[string]*wharfv1.MessageAttributeValue{
		"n": {DataType: "Number", StringValue: "1.5"},
	}}},
	{"SendMessageBatch", &wharfv1.SendMessageBatchRequest{Queue: "jobs.fifo", Entries: []*wharfv1.SendMessageBatchRequestEntry{
		{Id: "a", Body: "x", MessageGroupId: "g", MessageDeduplicationId: "d"}, {Id: "b", Body: "y", MessageGroupId: "g"},
	}}},
	{"ReceiveMessage", &wharfv1.ReceiveMessageRequest{Queue: "jobs", MaxMessages: 10}},
	{"DeleteMessage", &wharfv1.DeleteMessageRequest{Queue: "jobs", ReceiptHandle: "AgcICQIAAAAAAAAABQ"}},
	{"DeleteMessageBatch", &wharfv1.DeleteMessageBatchRequest{Queue: "jobs", Entries: []*wharfv1.DeleteMessageBatchRequestEntry{{Id: "a", ReceiptHandle: "h"}}}},
	{"ChangeMessageVisibility", &wharfv1.ChangeMessageVisibilityRequest{Queue: "jobs", ReceiptHandle: "h", VisibilityTimeoutSeconds: 5}},
	{"ChangeMessageVisibilityBatch", &wharfv1.ChangeMessageVisibilityBatchRequest{Queue: "jobs", Entries: []*wharfv1.ChangeMessageVisibilityBatchRequestEntry{
		{Id: "a", ReceiptHandle: "h", VisibilityTimeoutSeconds: 5},
	}}},
}

// FuzzQueueServiceRequest posts a fuzzed body, as JSON or protobuf, to a
// QueueService method through the real Twirp handler over
// validatingService: whatever the body, the answer is a success or a
// client error, never a 500 (a panic in decoding or validation).
func FuzzQueueServiceRequest(f *testing.F) {
	for i, m := range fuzzMethods {
		pb, err := proto.Marshal(m.req)
		if err != nil {
			f.Fatal(err)
		}
		js, err := protojson.Marshal(m.req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), false, pb)
		f.Add(uint8(i), true, js)
	}
	f.Add(uint8(6), true, []byte(`{"queue":"jobs","body":"\u0000","delay_seconds":-1,"attributes":{"":{"data_type":"Binary"}}}`))
	f.Add(uint8(8), true, []byte(`{"queue":"jobs","max_messages":2147483647,"wait_time_seconds":-2147483648}`))
	h := NewHandler(validatingService{}, nil, nil)
	f.Fuzz(func(t *testing.T, method uint8, json bool, body []byte) {
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		ct := "application/protobuf"
		if json {
			ct = "application/json"
		}
		req := httptest.NewRequest(http.MethodPost, "/twirp/wharf.v1.QueueService/"+m.name, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s (%s) %q: %d %s", m.name, ct, body, rec.Code, rec.Body.String())
		}
	})
}

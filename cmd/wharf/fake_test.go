package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeService records every request and answers from canned values. err,
// when set, fails every call.
type fakeService struct {
	requests []proto.Message
	err      error
	queue    *wharfv1.Queue
	pages    map[string]*wharfv1.ListQueuesResponse // by request next_token
	sent     *wharfv1.SendMessageResponse
	messages []*wharfv1.Message
}

func (f *fakeService) record(req proto.Message) error {
	f.requests = append(f.requests, req)
	return f.err
}

// only returns the single request the command made.
func (f *fakeService) only(t *testing.T) proto.Message {
	t.Helper()
	if len(f.requests) != 1 {
		t.Fatalf("made %d requests, want 1: %v", len(f.requests), f.requests)
	}
	return f.requests[0]
}

func (f *fakeService) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.CreateQueueResponse{Queue: f.queue}, nil
}

func (f *fakeService) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.DeleteQueueResponse{}, nil
}

func (f *fakeService) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return f.pages[req.GetNextToken()], nil
}

func (f *fakeService) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.GetQueueResponse{Queue: f.queue}, nil
}

func (f *fakeService) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.UpdateQueueResponse{Queue: f.queue}, nil
}

func (f *fakeService) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.PurgeQueueResponse{}, nil
}

func (f *fakeService) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return f.sent, nil
}

func (f *fakeService) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	panic("the CLI has no batch commands")
}

func (f *fakeService) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.ReceiveMessageResponse{Messages: f.messages}, nil
}

func (f *fakeService) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.DeleteMessageResponse{}, nil
}

func (f *fakeService) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	panic("the CLI has no batch commands")
}

func (f *fakeService) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.ChangeMessageVisibilityResponse{}, nil
}

func (f *fakeService) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	panic("the CLI has no batch commands")
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
	endpoint       string // what the service was dialed with, "|"-separated; "" if never
}

func runCLI(t *testing.T, svc *fakeService, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, svc, nil, stdin, args...)
}

// runWith runs the CLI with svc as the QueueService and the ClusterService
// from dialCluster; either may be nil when the command must not use it.
func runWith(t *testing.T, svc *fakeService, dialCluster func([]string) wharfv1.ClusterService, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	var r result
	c := &cli{
		in:       strings.NewReader(stdin),
		out:      &out,
		errOut:   &errOut,
		endpoint: "http://default:7070",
		dial: func(endpoints []string) wharfv1.QueueService {
			if svc == nil {
				t.Fatalf("%q dialed the QueueService", args)
			}
			r.endpoint = strings.Join(endpoints, "|")
			return svc
		},
		dialCluster: func(endpoints []string) wharfv1.ClusterService {
			if dialCluster == nil {
				t.Fatalf("%q dialed the ClusterService", args)
			}
			r.endpoint = strings.Join(endpoints, "|")
			return dialCluster(endpoints)
		},
	}
	r.code = c.run(context.Background(), args)
	r.stdout, r.stderr = out.String(), errOut.String()
	return r
}

// wantRequest compares the request the command made with want.
func wantRequest(t *testing.T, svc *fakeService, want proto.Message) {
	t.Helper()
	if got := svc.only(t); !proto.Equal(got, want) {
		t.Errorf("request:\n got %v\nwant %v", got, want)
	}
}

package twirpapi

import (
	"bytes"
	"context"
	"sync"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeService answers GetQueue and SendMessage from canned values and fails
// every method with err when it is set. ReceiveMessage panics, to exercise
// recovery. Methods it does not override panic too (nil embedded interface).
type fakeService struct {
	wharfv1.QueueService
	err error
}

func (f *fakeService) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &wharfv1.GetQueueResponse{Queue: &wharfv1.Queue{Name: req.GetQueue()}}, nil
}

func (f *fakeService) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &wharfv1.SendMessageResponse{MessageId: "m-1", Md5OfBody: "md5-of-" + req.GetBody()[:min(4, len(req.GetBody()))]}, nil
}

func (f *fakeService) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	panic("boom")
}

// syncBuffer is a bytes.Buffer safe to write from server goroutines while a
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

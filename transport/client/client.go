// Package client is the Go client for a Wharf cluster. It wraps the
// generated Twirp protobuf client with failover between endpoints and
// retries that are safe: every send gets a request id before its first
// attempt, so a send retried after a timeout is stored once.
package client

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

const (
	// EnvEndpoint names the environment variable holding the default
	// endpoints (comma-separated) for command-line tools.
	EnvEndpoint = "WHARF_ENDPOINT"
	// DefaultEndpoint is where a single-node wharfd listens by default.
	DefaultEndpoint = "http://127.0.0.1:7070"
	// DefaultTimeout bounds one HTTP round trip. It must exceed the
	// longest long poll (20 s) plus the time to commit the receive.
	DefaultTimeout = 45 * time.Second
)

// EndpointFromEnv returns $WHARF_ENDPOINT, or DefaultEndpoint when it is
// unset or empty. It may name several endpoints; see SplitEndpoints.
func EndpointFromEnv() string {
	if e := strings.TrimSpace(os.Getenv(EnvEndpoint)); e != "" {
		return e
	}
	return DefaultEndpoint
}

// SplitEndpoints splits a comma-separated list of endpoints, dropping
// blanks: "http://a:7070, b:7070" gives two.
func SplitEndpoints(list string) []string {
	var out []string
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// New returns a QueueService that talks to the cluster at endpoints (base
// URLs such as "http://10.0.0.1:7070" or, for a cluster serving HTTPS,
// "https://10.0.0.1:7070" with WithCA; "http://" is assumed when no scheme
// is given). Any node serves any request, so a call goes to the endpoint
// that last answered and moves on to the next one, round robin, when an
// attempt fails in a way that allows a retry (see WithAttempts).
//
// Which failures are retried depends on the call. Sends (each entry gets
// a random request id unless it has one) and reads are retried after any
// transport failure or timeout, and after the server's unavailable or
// deadline_exceeded. Every other call changes state in a way that
// repeating could change again, so it is retried only when the first
// attempt certainly did nothing: the connection was refused, or the
// server answered unavailable.
//
// Errors are twirp.Error values. Besides the server's own codes, a request
// that could not reach the server fails with twirp.Unavailable, one that
// timed out with twirp.DeadlineExceeded, one whose context was canceled with
// twirp.Canceled.
func New(endpoints []string, opts ...Option) wharfv1.QueueService {
	return newClient(endpoints, opts, func(url string, hc wharfv1.HTTPClient) wharfv1.QueueService {
		return wharfv1.NewQueueServiceProtobufClient(url, hc)
	})
}

// newClient applies the options and makes one connection per endpoint.
func newClient(endpoints []string, opts []Option, conn func(url string, hc wharfv1.HTTPClient) wharfv1.QueueService) *client {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.httpClient = signing(o)
	c := &client{opts: o}
	for _, e := range endpoints {
		u := normalize(e)
		c.urls = append(c.urls, u)
		c.conns = append(c.conns, conn(u, o.httpClient))
	}
	return c
}

// normalize turns "host:port" into "http://host:port" and drops a trailing
// slash. The generated client cannot do this itself: url.Parse reads
// "localhost:7070" as scheme "localhost".
func normalize(endpoint string) string {
	e := strings.TrimRight(strings.TrimSpace(endpoint), "/")
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	return e
}

type client struct {
	opts  options
	urls  []string               // the endpoints, normalized, in the order given
	conns []wharfv1.QueueService // one per endpoint
	// preferred is the endpoint that last answered, where calls start.
	preferred atomic.Uint32
}

// receiveWait is how long a receive may long-poll, which its attempts get
// on top of the per-attempt timeout. Unset, the queue's default applies,
// which may be up to the maximum.
func receiveWait(req *wharfv1.ReceiveMessageRequest) time.Duration {
	if req.WaitTimeSeconds == nil {
		return maxWait
	}
	return time.Duration(max(req.GetWaitTimeSeconds(), 0)) * time.Second
}

func (c *client) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	return call(ctx, c, "CreateQueue", onlyNotProcessed, 0, req, wharfv1.QueueService.CreateQueue)
}

func (c *client) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	return call(ctx, c, "DeleteQueue", onlyNotProcessed, 0, req, wharfv1.QueueService.DeleteQueue)
}

func (c *client) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	return call(ctx, c, "ListQueues", repeatable, 0, req, wharfv1.QueueService.ListQueues)
}

func (c *client) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	return call(ctx, c, "GetQueue", repeatable, 0, req, wharfv1.QueueService.GetQueue)
}

func (c *client) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	return call(ctx, c, "UpdateQueue", onlyNotProcessed, 0, req, wharfv1.QueueService.UpdateQueue)
}

func (c *client) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	return call(ctx, c, "PurgeQueue", onlyNotProcessed, 0, req, wharfv1.QueueService.PurgeQueue)
}

func (c *client) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	return call(ctx, c, "SendMessage", repeatable, 0, withRequestID(req), wharfv1.QueueService.SendMessage)
}

func (c *client) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	return call(ctx, c, "SendMessageBatch", repeatable, 0, withRequestIDs(req), wharfv1.QueueService.SendMessageBatch)
}

func (c *client) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	return call(ctx, c, "ReceiveMessage", onlyNotProcessed, receiveWait(req), req, wharfv1.QueueService.ReceiveMessage)
}

func (c *client) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	return call(ctx, c, "DeleteMessage", onlyNotProcessed, 0, req, wharfv1.QueueService.DeleteMessage)
}

func (c *client) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	return call(ctx, c, "DeleteMessageBatch", onlyNotProcessed, 0, req, wharfv1.QueueService.DeleteMessageBatch)
}

func (c *client) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	return call(ctx, c, "ChangeMessageVisibility", onlyNotProcessed, 0, req, wharfv1.QueueService.ChangeMessageVisibility)
}

func (c *client) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	return call(ctx, c, "ChangeMessageVisibilityBatch", onlyNotProcessed, 0, req, wharfv1.QueueService.ChangeMessageVisibilityBatch)
}

// Package client is the Go client for a Wharf cluster. It wraps the
// generated Twirp protobuf client.
package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

const (
	// EnvEndpoint names the environment variable holding the default
	// endpoint for command-line tools.
	EnvEndpoint = "WHARF_ENDPOINT"
	// DefaultEndpoint is where a single-node wharfd listens by default.
	DefaultEndpoint = "http://127.0.0.1:7070"
	// DefaultTimeout bounds one HTTP round trip. It must exceed the
	// longest long poll (20 s) plus the time to commit the receive.
	DefaultTimeout = 45 * time.Second
)

// EndpointFromEnv returns $WHARF_ENDPOINT, or DefaultEndpoint when it is
// unset or empty.
func EndpointFromEnv() string {
	if e := strings.TrimSpace(os.Getenv(EnvEndpoint)); e != "" {
		return e
	}
	return DefaultEndpoint
}

// Option configures New.
type Option func(*options)

type options struct {
	httpClient wharfv1.HTTPClient
}

// WithHTTPClient sets the HTTP client requests go through. Its timeout, if
// any, must allow for long polls.
func WithHTTPClient(c wharfv1.HTTPClient) Option {
	return func(o *options) { o.httpClient = c }
}

// New returns a QueueService that talks to the cluster at endpoints (base
// URLs such as "http://10.0.0.1:7070"; "http://" is assumed when no scheme
// is given).
//
// Errors are twirp.Error values. Besides the server's own codes, a request
// that could not reach the server fails with twirp.Unavailable, one that
// timed out with twirp.DeadlineExceeded, one whose context was canceled with
// twirp.Canceled.
func New(endpoints []string, opts ...Option) wharfv1.QueueService {
	o := options{httpClient: &http.Client{Timeout: DefaultTimeout}}
	for _, opt := range opts {
		opt(&o)
	}
	c := &client{}
	for _, e := range endpoints {
		c.conns = append(c.conns, wharfv1.NewQueueServiceProtobufClient(normalize(e), o.httpClient))
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
	conns []wharfv1.QueueService // one per endpoint, in the order given
}

// call runs one RPC. It is the seam for cluster failover: today every call
// goes to the first endpoint; later this is where a call picks the endpoint
// (the last one that answered, or the leader a redirect names) and moves on
// to the next one when the error says the request was not processed
// (Unavailable).
func call[Req, Resp any](ctx context.Context, c *client, req Req,
	rpc func(wharfv1.QueueService, context.Context, Req) (Resp, error)) (Resp, error) {
	if len(c.conns) == 0 {
		var zero Resp
		return zero, twirp.NewError(twirp.Internal, "wharf client: no endpoints configured")
	}
	resp, err := rpc(c.conns[0], ctx, req)
	return resp, classify(err)
}

// classify gives transport failures a Twirp code that says what the caller
// may do; the generated client reports them all as internal.
func classify(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err // nil, or an error the server sent
	}
	var code twirp.ErrorCode
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		code = twirp.Canceled
	case ue.Timeout() || errors.Is(err, context.DeadlineExceeded):
		// The request may or may not have been processed.
		code = twirp.DeadlineExceeded
	case errors.As(err, &op) && op.Op == "dial":
		// Never connected, so never processed: safe to retry.
		code = twirp.Unavailable
	default:
		return err
	}
	return twirp.WrapError(twirp.NewError(code, ue.Error()), err)
}

func (c *client) CreateQueue(ctx context.Context, req *wharfv1.CreateQueueRequest) (*wharfv1.CreateQueueResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.CreateQueue)
}

func (c *client) DeleteQueue(ctx context.Context, req *wharfv1.DeleteQueueRequest) (*wharfv1.DeleteQueueResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.DeleteQueue)
}

func (c *client) ListQueues(ctx context.Context, req *wharfv1.ListQueuesRequest) (*wharfv1.ListQueuesResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.ListQueues)
}

func (c *client) GetQueue(ctx context.Context, req *wharfv1.GetQueueRequest) (*wharfv1.GetQueueResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.GetQueue)
}

func (c *client) UpdateQueue(ctx context.Context, req *wharfv1.UpdateQueueRequest) (*wharfv1.UpdateQueueResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.UpdateQueue)
}

func (c *client) PurgeQueue(ctx context.Context, req *wharfv1.PurgeQueueRequest) (*wharfv1.PurgeQueueResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.PurgeQueue)
}

func (c *client) SendMessage(ctx context.Context, req *wharfv1.SendMessageRequest) (*wharfv1.SendMessageResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.SendMessage)
}

func (c *client) SendMessageBatch(ctx context.Context, req *wharfv1.SendMessageBatchRequest) (*wharfv1.SendMessageBatchResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.SendMessageBatch)
}

func (c *client) ReceiveMessage(ctx context.Context, req *wharfv1.ReceiveMessageRequest) (*wharfv1.ReceiveMessageResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.ReceiveMessage)
}

func (c *client) DeleteMessage(ctx context.Context, req *wharfv1.DeleteMessageRequest) (*wharfv1.DeleteMessageResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.DeleteMessage)
}

func (c *client) DeleteMessageBatch(ctx context.Context, req *wharfv1.DeleteMessageBatchRequest) (*wharfv1.DeleteMessageBatchResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.DeleteMessageBatch)
}

func (c *client) ChangeMessageVisibility(ctx context.Context, req *wharfv1.ChangeMessageVisibilityRequest) (*wharfv1.ChangeMessageVisibilityResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.ChangeMessageVisibility)
}

func (c *client) ChangeMessageVisibilityBatch(ctx context.Context, req *wharfv1.ChangeMessageVisibilityBatchRequest) (*wharfv1.ChangeMessageVisibilityBatchResponse, error) {
	return call(ctx, c, req, wharfv1.QueueService.ChangeMessageVisibilityBatch)
}

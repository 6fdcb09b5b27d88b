package bench

import (
	"context"
	"time"
)

// A Target is a message queue system under test: Wharf, NATS JetStream or
// RabbitMQ. The workloads talk to it only through this interface, so each
// runs the same way against every system.
type Target interface {
	// Name is the system's name in reports: "wharf", "nats", "rabbitmq".
	Name() string
	// CreateQueue makes a new, empty queue (a JetStream stream and
	// consumer, a quorum queue). fifo asks for per-group ordering where
	// the system has it. It returns the queue's name as the sessions must
	// use it (a Wharf FIFO queue's name ends in ".fifo").
	CreateQueue(ctx context.Context, name string, fifo bool) (string, error)
	// DeleteQueue removes a queue made by CreateQueue.
	DeleteQueue(ctx context.Context, name string) error
	// NewSession opens a client session for one worker goroutine (a
	// connection or channel where the system needs one per worker). i
	// numbers the sessions, so they can be spread over the nodes.
	NewSession(ctx context.Context, i int) (Session, error)
	// Servers returns the server processes the bench started, for CPU
	// accounting and pausing; nil when it points at existing servers.
	Servers() []*Proc
	// Close closes the target's own connections (not its servers).
	Close() error
}

// A Session is one worker's connection to a Target. It is used by one
// goroutine at a time.
type Session interface {
	// Send sends one message and returns once the system acknowledged it
	// as stored durably (a committed Raft entry, a JetStream PubAck, a
	// publisher confirm). group is the FIFO message group, or "".
	Send(ctx context.Context, queue string, body []byte, group string) error
	// Receive returns up to max messages, waiting up to wait for the
	// first one. It may return none.
	Receive(ctx context.Context, queue string, max int, wait time.Duration) ([]Message, error)
	// Delete acknowledges received messages so they are not delivered
	// again: in one request when batch is set and the system has one,
	// else one by one.
	Delete(ctx context.Context, queue string, msgs []Message, batch bool) error
	Close() error
}

// Message is a received message.
type Message struct {
	Body   []byte
	handle any // the system's receipt: a receipt handle, a jetstream.Msg, a delivery tag
}

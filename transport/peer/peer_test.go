package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/node"
	"github.com/wharfmq/wharf/core/shard"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// fakeService answers Propose with err, and Wait by waiting for its context
// to end, reporting the deadline it was given. Other methods panic (nil
// embedded interface).
type fakeService struct {
	nodev1.NodeService
	err      error
	deadline chan time.Duration
}

func (f *fakeService) Propose(ctx context.Context, req *nodev1.ProposeRequest) (*nodev1.ProposeResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &nodev1.ProposeResponse{Result: append([]byte("done:"), req.GetCommand()...)}, nil
}

func (f *fakeService) Wait(ctx context.Context, req *nodev1.WaitRequest) (*nodev1.WaitResponse, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		f.deadline <- -1
	} else {
		f.deadline <- time.Until(dl)
	}
	<-ctx.Done()
	return nil, core.Errorf(core.DeadlineExceeded, "%v while waiting for messages", ctx.Err())
}

// serve serves svc and returns a client and the peer that reaches it.
func serve(t *testing.T, svc nodev1.NodeService) (*Client, node.Peer) {
	t.Helper()
	srv := httptest.NewServer(NewHandler(svc, nil))
	t.Cleanup(srv.Close)
	c := NewClient(nil)
	t.Cleanup(c.Close)
	return c, node.Peer{ID: 7, RaftAddr: srv.Listener.Addr().String()}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestErrorsKeepTheirCodeAcrossTheHop(t *testing.T) {
	for _, tc := range []struct {
		err   error
		code  core.Code
		field string
	}{
		{core.FieldError("command", "too large"), core.InvalidArgument, "command"},
		{core.Errorf(core.NotFound, "no such queue"), core.NotFound, ""},
		{core.Errorf(core.AlreadyExists, "exists"), core.AlreadyExists, ""},
		{core.Errorf(core.FailedPrecondition, "stale handle"), core.FailedPrecondition, ""},
		{core.Errorf(core.ResourceExhausted, "full"), core.ResourceExhausted, ""},
		// Retryable elsewhere: nothing was done.
		{core.Errorf(core.Unavailable, "node 7 hosts no replica of shard 3"), core.Unavailable, ""},
		// The outcome is unknown: the caller must not retry elsewhere.
		{core.Errorf(core.DeadlineExceeded, "timed out; the request may or may not have taken effect"), core.DeadlineExceeded, ""},
		{core.Errorf(core.Internal, "bug"), core.Internal, ""},
		// Wrapped core errors keep their code too.
		{fmt.Errorf("wrapped: %w", core.Errorf(core.Unavailable, "shutting down")), core.Unavailable, ""},
		{errors.New("not a core error"), core.Internal, ""},
		{context.DeadlineExceeded, core.DeadlineExceeded, ""},
	} {
		c, p := serve(t, &fakeService{err: tc.err})
		_, err := c.Propose(ctx(t), p, 3, []byte("cmd"))
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Code != tc.code || ce.Field != tc.field {
			t.Errorf("%v came back as %#v, want code %v field %q", tc.err, err, tc.code, tc.field)
			continue
		}
		if tc.code != core.Internal && !strings.Contains(ce.Error(), strings.TrimPrefix(tc.err.Error(), "wrapped: ")) {
			t.Errorf("%v came back as %q", tc.err, ce.Error())
		}
	}
}

func TestProposeCarriesBytes(t *testing.T) {
	c, p := serve(t, &fakeService{})
	got, err := c.Propose(ctx(t), p, 3, []byte("cmd"))
	if err != nil || string(got) != "done:cmd" {
		t.Fatalf("propose = %q, %v", got, err)
	}
}

func TestUnreachablePeerIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: the connection is refused
	c := NewClient(nil)
	_, err = c.Propose(ctx(t), node.Peer{ID: 7, RaftAddr: addr}, 3, []byte("cmd"))
	if core.CodeOf(err) != core.Unavailable {
		t.Fatalf("propose to a closed port: %v, want unavailable (nothing was sent)", err)
	}
	_, err = c.Propose(ctx(t), node.Peer{ID: 7}, 3, []byte("cmd"))
	if core.CodeOf(err) != core.Unavailable {
		t.Fatalf("propose to a node without an address: %v, want unavailable", err)
	}
}

func TestCallerDeadlineReachesThePeer(t *testing.T) {
	f := &fakeService{deadline: make(chan time.Duration, 1)}
	c, p := serve(t, f)
	cctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Wait(cctx, p, 1, []uint64{5}, 20*time.Second, 0)
	if core.CodeOf(err) != core.DeadlineExceeded {
		t.Fatalf("wait past the caller's deadline: %v, want deadline_exceeded", err)
	}
	if d := <-f.deadline; d < 0 || d > 500*time.Millisecond {
		t.Fatalf("the peer worked with deadline %v, want the caller's (at most 500ms)", d)
	}
}

func TestPanicIsInternal(t *testing.T) {
	c, p := serve(t, &fakeService{}) // Read is not implemented: it panics
	_, err := c.Read(ctx(t), p, 1, &raftv1.ShardQuery{})
	if core.CodeOf(err) != core.Internal {
		t.Fatalf("read from a panicking service: %v, want internal", err)
	}
}

// TestNodeServiceOverHTTP runs a real node's NodeService behind the
// handler and uses it through the client, as another node would.
func TestNodeServiceOverHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	n, err := node.Start(ctx(t), node.Config{NodeID: 1, DataDir: t.TempDir(), RaftAddr: raftAddr, QueueShards: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c, p := serve(t, n.NodeService())

	// A proposal: the metadata command commits, its result comes back.
	cmd, err := proto.Marshal(&raftv1.MetaCommand{NowMs: time.Now().UnixMilli(), Op: &raftv1.MetaCommand_CreateQueue{
		CreateQueue: &raftv1.CreateQueue{Name: "jobs", Partitions: 1, Attributes: &raftv1.QueueAttributes{
			VisibilityTimeoutSeconds: 30, MessageRetentionSeconds: 3600, MaximumMessageBytes: 1024,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.Propose(ctx(t), p, 1, cmd)
	if err != nil {
		t.Fatal(err)
	}
	res := &raftv1.MetaResult{}
	if err := proto.Unmarshal(data, res); err != nil || res.GetQueue().GetName() != "jobs" {
		t.Fatalf("create queue result %v, %v", res, err)
	}

	// A read, in its wire form.
	q, err := shard.QueryToProto(shard.MetaQueueQuery{Name: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Read(ctx(t), p, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	v, err := shard.ResultFromProto(shard.MetaQueueQuery{Name: "jobs"}, r)
	rec, _ := v.(*raftv1.QueueRecord)
	if err != nil || rec.GetName() != "jobs" {
		t.Fatalf("read queue: %v, %v", v, err)
	}

	// A shard the node does not host: unavailable, to try elsewhere.
	if _, err := c.Propose(ctx(t), p, 999, cmd); core.CodeOf(err) != core.Unavailable {
		t.Fatalf("propose to an unhosted shard: %v, want unavailable", err)
	}

	// Status.
	st, err := c.Status(ctx(t), p)
	if err != nil || len(st) != 2 || !st[0].GetIsLeader() || st[0].GetAppliedIndex() == 0 {
		t.Fatalf("status %v, %v", st, err)
	}

	// Wait: a send on the node ends it (the lookback covers a send that
	// lands before the Wait does).
	pl := rec.GetPartitions()[0]
	woken := make(chan error, 1)
	go func() {
		ok, err := c.Wait(ctx(t), p, pl.GetShardId(), []uint64{pl.GetPartitionId()}, 20*time.Second, 10*time.Second)
		if err == nil && !ok {
			err = errors.New("not woken")
		}
		woken <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := n.SendMessage(ctx(t), &wharfv1.SendMessageRequest{Queue: "jobs", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := <-woken; err != nil {
		t.Fatalf("wait: %v", err)
	}
}

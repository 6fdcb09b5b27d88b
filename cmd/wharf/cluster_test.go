package main

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// fakeCluster records every request and answers from canned values. err,
// when set, fails every call.
type fakeCluster struct {
	requests []proto.Message
	err      error
	status   *wharfv1.GetClusterStatusResponse
	node     *wharfv1.ClusterNode
}

func (f *fakeCluster) record(req proto.Message) error {
	f.requests = append(f.requests, req)
	return f.err
}

func (f *fakeCluster) GetClusterStatus(ctx context.Context, req *wharfv1.GetClusterStatusRequest) (*wharfv1.GetClusterStatusResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return f.status, nil
}

func (f *fakeCluster) AddNode(ctx context.Context, req *wharfv1.AddNodeRequest) (*wharfv1.AddNodeResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.AddNodeResponse{Node: f.node, Members: []*wharfv1.ClusterNode{f.node}}, nil
}

func (f *fakeCluster) RemoveNode(ctx context.Context, req *wharfv1.RemoveNodeRequest) (*wharfv1.RemoveNodeResponse, error) {
	if err := f.record(req); err != nil {
		return nil, err
	}
	return &wharfv1.RemoveNodeResponse{Node: f.node}, nil
}

// only returns the single request the command made.
func (f *fakeCluster) only(t *testing.T) proto.Message {
	t.Helper()
	if len(f.requests) != 1 {
		t.Fatalf("made %d requests, want 1: %v", len(f.requests), f.requests)
	}
	return f.requests[0]
}

func runCluster(t *testing.T, f *fakeCluster, args ...string) result {
	t.Helper()
	return runWith(t, nil, func([]string) wharfv1.ClusterService { return f }, "", args...)
}

// testStatus has a node of each state, a shard with a replica in each
// health, and a shard with neither leader nor replicas.
var testStatus = &wharfv1.GetClusterStatusResponse{
	Nodes: []*wharfv1.ClusterNode{
		{NodeId: 1, RaftAddr: "10.0.0.1:7071", ApiAddr: "10.0.0.1:7070", State: "active", Reachable: true},
		{NodeId: 2, RaftAddr: "10.0.0.2:7071", ApiAddr: "10.0.0.2:7070", State: "active", Reachable: true},
		{NodeId: 13, RaftAddr: "wharf-13.internal:7071", ApiAddr: "wharf-13.internal:7070", State: "draining"},
	},
	Shards: []*wharfv1.ClusterShard{
		{ShardId: 1, Kind: "metadata", LeaderNodeId: 1, Replicas: []*wharfv1.ClusterReplica{
			{ReplicaId: 1, NodeId: 1, Health: "healthy", AppliedIndex: 1042},
			{ReplicaId: 2, NodeId: 2, Health: "healthy", AppliedIndex: 1042},
			{ReplicaId: 3, NodeId: 13, Health: "unreachable"},
		}},
		{ShardId: 2, Kind: "queue", LeaderNodeId: 2, Partitions: 4, Replicas: []*wharfv1.ClusterReplica{
			{ReplicaId: 4, NodeId: 1, Health: "catching_up", AppliedIndex: 950, Lag: 12050},
			{ReplicaId: 5, NodeId: 2, Health: "healthy", AppliedIndex: 13000},
			{ReplicaId: 6, NodeId: 13, Health: "removing", AppliedIndex: 12990, Lag: 10},
			{ReplicaId: 7, Health: "adding"},
		}},
		{ShardId: 3, Kind: "queue"},
	},
}

const testStatusText = `NODE  STATE     RAFT ADDR               API ADDR                REACHABLE
1     active    10.0.0.1:7071           10.0.0.1:7070           yes
2     active    10.0.0.2:7071           10.0.0.2:7070           yes
13    draining  wharf-13.internal:7071  wharf-13.internal:7070  no

SHARD  KIND      LEADER  PARTITIONS  REPLICA  NODE  HEALTH       APPLIED  LAG
1      metadata  1       0           1        1     healthy      1042     0
                                     2        2     healthy      1042     0
                                     3        13    unreachable  -        -
2      queue     2       4           4        1     catching_up  950      12050
                                     5        2     healthy      13000    0
                                     6        13    removing     12990    10
                                     7        -     adding       -        -
3      queue     -       0           -        -     -            -        -
`

func TestClusterStatus(t *testing.T) {
	f := &fakeCluster{status: testStatus}
	r := runCluster(t, f, "cluster", "status")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := f.only(t); !proto.Equal(got, &wharfv1.GetClusterStatusRequest{}) {
		t.Errorf("request %v", got)
	}
	if r.stdout != testStatusText {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, testStatusText)
	}

	// --json prints the response, as every command does.
	r = runCluster(t, &fakeCluster{status: testStatus}, "cluster", "status", "--json")
	if r.code != 0 {
		t.Fatalf("--json: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`"leader_node_id"`, `"applied_index"`, `"raft_addr"`, "\n  "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--json output lacks %q:\n%s", want, r.stdout)
		}
	}
	got := &wharfv1.GetClusterStatusResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), got); err != nil {
		t.Fatalf("output is not protojson: %v\n%s", err, r.stdout)
	}
	if !proto.Equal(got, testStatus) {
		t.Errorf("decoded %v, want %v", got, testStatus)
	}
}

func TestClusterAdd(t *testing.T) {
	node := &wharfv1.ClusterNode{NodeId: 4, RaftAddr: "10.0.0.4:7071", ApiAddr: "10.0.0.4:7070", State: "active", Reachable: true}
	for _, tc := range []struct {
		args []string
		want *wharfv1.AddNodeRequest
	}{
		// Without --node-id the cluster chooses one.
		{[]string{"--raft-addr", "10.0.0.4:7071", "--api-addr", "10.0.0.4:7070"},
			&wharfv1.AddNodeRequest{RaftAddr: "10.0.0.4:7071", ApiAddr: "10.0.0.4:7070"}},
		{[]string{"--api-addr=10.0.0.4:7070", "--node-id", "4", "--raft-addr=10.0.0.4:7071"},
			&wharfv1.AddNodeRequest{NodeId: 4, RaftAddr: "10.0.0.4:7071", ApiAddr: "10.0.0.4:7070"}},
	} {
		f := &fakeCluster{node: node}
		r := runCluster(t, f, append([]string{"cluster", "add"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", tc.args, r.code, r.stderr)
			continue
		}
		if got := f.only(t); !proto.Equal(got, tc.want) {
			t.Errorf("%q: request\n got %v\nwant %v", tc.args, got, tc.want)
		}
		want := "node_id:   4\nstate:     active\nraft_addr: 10.0.0.4:7071\napi_addr:  10.0.0.4:7070\n"
		if r.stdout != want {
			t.Errorf("%q: got:\n%s\nwant:\n%s", tc.args, r.stdout, want)
		}
	}

	r := runCluster(t, &fakeCluster{node: node}, "--json", "cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2")
	got := &wharfv1.AddNodeResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), got); err != nil || r.code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if !proto.Equal(got.GetNode(), node) || len(got.GetMembers()) != 1 {
		t.Errorf("--json: decoded %v", got)
	}
}

func TestClusterRemove(t *testing.T) {
	node := &wharfv1.ClusterNode{NodeId: 3, RaftAddr: "10.0.0.3:7071", ApiAddr: "10.0.0.3:7070", State: "draining", Reachable: true}
	f := &fakeCluster{node: node}
	r := runCluster(t, f, "cluster", "remove", "3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := f.only(t); !proto.Equal(got, &wharfv1.RemoveNodeRequest{NodeId: 3}) {
		t.Errorf("request %v", got)
	}
	if want := "node_id:   3\nstate:     draining\nraft_addr: 10.0.0.3:7071\napi_addr:  10.0.0.3:7070\n"; r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = runCluster(t, &fakeCluster{node: node}, "cluster", "remove", "--json", "3")
	got := &wharfv1.RemoveNodeResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), got); err != nil || r.code != 0 || !proto.Equal(got.GetNode(), node) {
		t.Errorf("--json: exit %d, %v, decoded %v:\n%s", r.code, err, got, r.stdout)
	}

	f = &fakeCluster{err: twirp.NewError(twirp.NotFound, "node 9 does not exist")}
	r = runCluster(t, f, "cluster", "remove", "9")
	if r.code != 1 || r.stderr != "wharf: not_found: node 9 does not exist\n" || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestClusterUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"cluster", "frobnicate"},
		{"cluster", "status", "extra"},
		{"cluster", "add"},
		{"cluster", "add", "--raft-addr", "a:1"},
		{"cluster", "add", "--api-addr", "a:2"},
		{"cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2", "extra"},
		{"cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2", "--node-id", "four"},
		{"cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2", "--node-id", "-1"},
		{"cluster", "remove"},
		{"cluster", "remove", "1", "2"},
		{"cluster", "remove", "one"},
		{"cluster", "remove", "0"},
		{"cluster", "remove", "-1"},
	} {
		f := &fakeCluster{}
		r := runCluster(t, f, args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr:\n%s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "usage:") && !strings.Contains(r.stderr, "wharf:") {
			t.Errorf("%q: stderr explains nothing:\n%s", args, r.stderr)
		}
		if len(f.requests) != 0 {
			t.Errorf("%q: made requests %v", args, f.requests)
		}
	}

	for _, tc := range []struct{ group, want string }{
		{"cluster", "wharf: cluster needs a subcommand: status, add or remove\n"},
		{"queue", "wharf: queue needs a subcommand: create, delete, list, get, update or purge\n"},
	} {
		if r := runCluster(t, &fakeCluster{}, tc.group); r.code != 2 || r.stderr != tc.want {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.group, r.code, r.stderr, tc.want)
		}
	}
}

func TestClusterEndpoint(t *testing.T) {
	r := runCluster(t, &fakeCluster{status: testStatus}, "cluster", "status", "--endpoint", "http://a:1, b:2")
	if r.code != 0 || r.endpoint != "http://a:1|b:2" {
		t.Errorf("exit %d, endpoint %q; stderr:\n%s", r.code, r.endpoint, r.stderr)
	}
}

// serve serves f as a ClusterService over HTTP and returns its address,
// without a scheme (the client assumes http://).
func serve(t *testing.T, f *fakeCluster) string {
	t.Helper()
	s := httptest.NewServer(wharfv1.NewClusterServiceServer(f))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// deadEndpoint returns an address that refuses connections.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// realClient dials the cluster commands through the failover client, with
// no pause between attempts.
func realClient(endpoints []string) wharfv1.ClusterService {
	return client.NewCluster(endpoints, client.WithBackoff(0, 0), client.WithAttemptTimeout(5*time.Second))
}

func TestClusterStatusFailsOver(t *testing.T) {
	// A node that refuses connections, one that answers unavailable, then
	// one that answers.
	busy := &fakeCluster{err: twirp.NewError(twirp.Unavailable, "no leader for the metadata shard")}
	good := &fakeCluster{status: testStatus}
	endpoints := strings.Join([]string{deadEndpoint(t), serve(t, busy), serve(t, good)}, ",")
	r := runWith(t, nil, realClient, "", "--endpoint", endpoints, "cluster", "status")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != testStatusText {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, testStatusText)
	}
	if len(busy.requests) != 1 || len(good.requests) != 1 {
		t.Errorf("requests: %d to the unavailable node, %d to the good one; want 1 each", len(busy.requests), len(good.requests))
	}

	// When no endpoint answers, the error says so.
	endpoints = deadEndpoint(t) + "," + deadEndpoint(t)
	r = runWith(t, nil, realClient, "", "--endpoint", endpoints, "cluster", "status")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "wharf: unavailable: GetClusterStatus: gave up after") || r.stdout != "" {
		t.Errorf("all endpoints down: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestClusterAddFailsOverOnlyWhenAllowed(t *testing.T) {
	node := &wharfv1.ClusterNode{NodeId: 4, RaftAddr: "a:1", ApiAddr: "a:2", State: "active"}
	busy := &fakeCluster{err: twirp.NewError(twirp.Unavailable, "not ready")}
	good := &fakeCluster{node: node}
	args := []string{"--endpoint", serve(t, busy) + "," + serve(t, good), "cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2"}
	if r := runWith(t, nil, realClient, "", args...); r.code != 0 || len(good.requests) != 1 {
		t.Errorf("exit %d, %d requests to the good node; stderr:\n%s", r.code, len(good.requests), r.stderr)
	}

	// The server's refusal is an answer: the next endpoint would say the
	// same.
	refusing := &fakeCluster{err: twirp.NewError(twirp.FailedPrecondition, "node 4 is draining")}
	good = &fakeCluster{node: node}
	args = []string{"--endpoint", serve(t, refusing) + "," + serve(t, good), "cluster", "add", "--raft-addr", "a:1", "--api-addr", "a:2"}
	r := runWith(t, nil, realClient, "", args...)
	if r.code != 1 || r.stderr != "wharf: failed_precondition: node 4 is draining\n" || len(good.requests) != 0 {
		t.Errorf("exit %d, %d requests to the next node, stderr %q", r.code, len(good.requests), r.stderr)
	}
}

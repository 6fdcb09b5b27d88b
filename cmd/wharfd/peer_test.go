package main_test

// The peer port: node-to-node traffic authenticated, and off the API port.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	raftpb "github.com/lni/dragonboat/v4/raftpb"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/client"
)

// peerAuth returns the peer authentication flags of a node, by name.
type peerAuth func(name string) []string

// keyAuth: every node holds the same new cluster key.
func keyAuth(t *testing.T) peerAuth {
	t.Helper()
	path := writeKey(t)
	return func(string) []string { return []string{"--cluster-key-file", path} }
}

func writeKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%x\n", key)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsAuth: every node has its own certificate, signed by the CA of the
// certificate directory caDir (made by the first certificate).
func tlsAuth(t *testing.T, caDir string) peerAuth {
	t.Helper()
	return func(name string) []string {
		made, err := certgen.MakeDir(certgen.Request{Dir: caDir, Nodes: []string{name}, Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		n := made.Nodes[0]
		return []string{"--peer-ca", made.CACert, "--peer-cert", n.Cert, "--peer-key", n.Key}
	}
}

// newCA returns the directory of a CA of its own (see tlsAuth).
func newCA(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

// exerciseCluster sends through every node and receives through every
// node: with one replica per queue shard, most of it is forwarded over the
// peer port. Every acknowledged send must be received.
func exerciseCluster(t *testing.T, c *cluster) {
	t.Helper()
	svc := client.New(c.endpoints())
	if _, err := svc.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "door"}); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for id, s := range c.nodes {
		for body := range s.sendN("door", 10, fmt.Sprintf("via-%d", id)) {
			acked[body] = true
		}
	}
	seen := map[string]int{}
	for _, s := range c.nodes {
		for body, n := range s.drain("door") {
			seen[body] += n
		}
	}
	checkNothingLost(t, acked, seen)
	st := c.status(1)
	for _, n := range st.Nodes {
		if !n.Reachable {
			t.Errorf("node %d unreachable in the cluster status (NodeService.Status over the peer port)", n.NodeId)
		}
	}
}

// refusedToJoin starts a node that tries to join through member with
// args, and checks it is still not ready and not registered a while later.
func refusedToJoin(t *testing.T, c *cluster, member uint64, args ...string) {
	t.Helper()
	addrs := freeAddrs(t, 2)
	s := launchAt(t, addrs[0], addrs[1], append(args, "--join", c.nodes[member].raftAddr)...)
	time.Sleep(4 * time.Second)
	resp, err := http.Get("http://" + s.apiAddr + "/readyz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("a node with %q joined", args)
		}
	}
	for _, n := range c.status(member).Nodes {
		if n.RaftAddr == addrs[1] {
			t.Fatalf("a node with %q was registered: %v", args, n)
		}
	}
}

// TestClusterOverMutualTLS: three nodes whose certificates one CA signed
// work as a cluster; a node whose certificate another CA signed cannot
// join it.
func TestClusterOverMutualTLS(t *testing.T) {
	c := newClusterAuth(t, 3, tlsAuth(t, newCA(t)), "--replication-factor", "1")
	exerciseCluster(t, c)
	refusedToJoin(t, c, 2, tlsAuth(t, newCA(t))("n9")...)
}

// TestClusterWithClusterKey: three nodes sharing a cluster key work as a
// cluster; a node with another key, or none, cannot join; a stranger's
// connection to the peer port is closed unanswered.
func TestClusterWithClusterKey(t *testing.T) {
	c := newClusterAuth(t, 3, keyAuth(t), "--replication-factor", "1")
	exerciseCluster(t, c)
	refusedToJoin(t, c, 2, keyAuth(t)("n9")...)
	refusedToJoin(t, c, 3, "--insecure")

	// A well-formed Raft frame from a stranger: the Raft transport alone
	// would take it and wait for the next; the peer port closes the
	// connection at once, unanswered.
	for _, forged := range [][]byte{raftFrame(t), []byte("POST /twirp/wharf.node.v1.NodeService/Status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")} {
		conn, err := net.Dial("tcp", c.nodes[1].raftAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(forged); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(conn)
		var ne net.Error
		if len(b) != 0 || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the peer port kept a stranger's connection open or answered it: %q, %v", b, err)
		}
	}
}

// raftFrame is one valid raftnet frame (an empty message batch from a
// made-up address), at least as long as a peerlink hello.
func raftFrame(t *testing.T) []byte {
	t.Helper()
	payload, err := (&raftpb.MessageBatch{SourceAddress: strings.Repeat("s", 64) + ":1"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	f := make([]byte, 16, 16+len(payload))
	f[0], f[1], f[2], f[3] = 'W', 'R', 1, 1
	binary.BigEndian.PutUint32(f[4:8], uint32(len(payload)))
	binary.BigEndian.PutUint32(f[8:12], crc32.Checksum(payload, castagnoli))
	binary.BigEndian.PutUint32(f[12:16], crc32.Checksum(f[:12], castagnoli))
	return append(f, payload...)
}

// TestNodeServiceNotOnAPIPort: NodeService calls forged on the API port
// reach nothing (404 bad_route), authenticated or not; ClusterService is
// still there.
func TestNodeServiceNotOnAPIPort(t *testing.T) {
	s := newServer(t)
	s.createQueue("target", false)
	for method, body := range map[string]string{
		// A Tick five days ahead would expire every message.
		"Propose": `{"shard_id":"2","command":"` + "CgQIAhAB" + `"}`,
		"Read":    `{"shard_id":"1","query":{}}`,
		"Wait":    `{"shard_id":"2","partition_ids":["1"],"wait_ms":10}`,
		"Status":  `{}`,
		"Join":    `{"raft_addr":"10.0.0.66:7071","api_addr":"10.0.0.66:7070"}`,
	} {
		url := "http://" + s.apiAddr + "/twirp/wharf.node.v1.NodeService/" + method
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), `"code":"bad_route"`) {
			t.Errorf("NodeService/%s on the API port: %d %s, want 404 bad_route", method, resp.StatusCode, b)
		}
	}
	resp, err := http.Post("http://"+s.apiAddr+"/twirp/wharf.v1.ClusterService/GetClusterStatus", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ClusterService on the API port: %d, want 200", resp.StatusCode)
	}
}

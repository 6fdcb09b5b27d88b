package bench

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/client"
	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// WharfTarget drives a Wharf cluster through the Go client
// (transport/client, Twirp with protobuf encoding).
type WharfTarget struct {
	endpoints []string
	http      *http.Client
	admin     wharfv1.QueueService
	procs     []*Proc
}

// NewWharfTarget returns a target for the cluster at endpoints (API base
// URLs). procs are its server processes if the bench started them. ca, if
// not nil, is the CA https endpoints are checked against (else the
// system's roots).
func NewWharfTarget(endpoints []string, procs []*Proc, ca *x509.CertPool) *WharfTarget {
	// One pool of keep-alive connections for all sessions; the default
	// keeps only 2 idle connections per host, which would make most
	// requests of a busy run open a new connection.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	if ca != nil {
		tr.TLSClientConfig = tlsfiles.ClientConfig(ca)
	}
	hc := &http.Client{Transport: tr, Timeout: client.DefaultTimeout}
	return &WharfTarget{
		endpoints: endpoints,
		http:      hc,
		admin:     client.New(endpoints, client.WithHTTPClient(hc), client.WithEnvCredentials()),
		procs:     procs,
	}
}

func (t *WharfTarget) Name() string     { return "wharf" }
func (t *WharfTarget) Servers() []*Proc { return t.procs }
func (t *WharfTarget) Close() error {
	t.http.CloseIdleConnections()
	return nil
}

func (t *WharfTarget) CreateQueue(ctx context.Context, name string, fifo bool) (string, error) {
	if fifo {
		name += ".fifo"
	}
	// FIFO bodies are unique (they carry a sequence number), so content
	// based deduplication never drops one.
	_, err := t.admin.CreateQueue(ctx, &wharfv1.CreateQueueRequest{
		Name:                      name,
		Fifo:                      fifo,
		ContentBasedDeduplication: fifo,
	})
	return name, err
}

func (t *WharfTarget) DeleteQueue(ctx context.Context, name string) error {
	_, err := t.admin.DeleteQueue(ctx, &wharfv1.DeleteQueueRequest{Queue: name})
	return err
}

// NewSession returns a session whose client starts at endpoint i (mod the
// number of endpoints), so sessions spread over the nodes as behind a
// round-robin load balancer.
func (t *WharfTarget) NewSession(ctx context.Context, i int) (Session, error) {
	n := len(t.endpoints)
	rotated := append(append([]string{}, t.endpoints[i%n:]...), t.endpoints[:i%n]...)
	return &wharfSession{svc: client.New(rotated, client.WithHTTPClient(t.http), client.WithEnvCredentials())}, nil
}

type wharfSession struct {
	svc wharfv1.QueueService
}

func (s *wharfSession) Send(ctx context.Context, queue string, body []byte, group string) error {
	_, err := s.svc.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: queue, Body: string(body), MessageGroupId: group})
	return err
}

func (s *wharfSession) Receive(ctx context.Context, queue string, maxMsgs int, wait time.Duration) ([]Message, error) {
	w := int32((wait + time.Second - 1) / time.Second)
	resp, err := s.svc.ReceiveMessage(ctx, &wharfv1.ReceiveMessageRequest{Queue: queue, MaxMessages: int32(maxMsgs), WaitTimeSeconds: &w})
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(resp.Messages))
	for i, m := range resp.Messages {
		out[i] = Message{Body: []byte(m.Body), handle: m.ReceiptHandle}
	}
	return out, nil
}

func (s *wharfSession) Delete(ctx context.Context, queue string, msgs []Message, batch bool) error {
	if len(msgs) == 0 {
		return nil
	}
	if !batch {
		for _, m := range msgs {
			if _, err := s.svc.DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: queue, ReceiptHandle: m.handle.(string)}); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(msgs); start += 10 {
		req := &wharfv1.DeleteMessageBatchRequest{Queue: queue}
		for i, m := range msgs[start:min(start+10, len(msgs))] {
			req.Entries = append(req.Entries, &wharfv1.DeleteMessageBatchRequestEntry{Id: strconv.Itoa(i), ReceiptHandle: m.handle.(string)})
		}
		resp, err := s.svc.DeleteMessageBatch(ctx, req)
		if err != nil {
			return err
		}
		if len(resp.Failed) > 0 {
			return fmt.Errorf("delete batch: %d failed, first: %s: %s", len(resp.Failed), resp.Failed[0].Code, resp.Failed[0].Message)
		}
	}
	return nil
}

func (s *wharfSession) Close() error { return nil }

// WharfCluster is a Wharf cluster the bench started: wharfd processes on
// 127.0.0.1 with free ports and data in a temporary directory.
type WharfCluster struct {
	Endpoints []string
	Procs     []*Proc
	Dir       string
	// PprofAddrs are the nodes' pprof addresses when the binary was built
	// with BuildWharfd's pprof overlay, else empty.
	PprofAddrs []string
	// CA signs the nodes' API certificates when the cluster serves HTTPS
	// (StartWharfClusterTLS), else nil.
	CA *x509.CertPool
}

// BuildWharfd builds cmd/wharfd of the module in the current directory into
// dir and returns the binary's path. With pprof, the build adds one file to
// the package through go build -overlay (the source tree is not touched)
// that serves net/http/pprof on $WHARF_BENCH_PPROF_ADDR.
func BuildWharfd(ctx context.Context, dir string, pprof bool) (string, error) {
	bin := filepath.Join(dir, "wharfd")
	args := []string{"build", "-o", bin}
	if pprof {
		overlay, err := writePprofOverlay(dir)
		if err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "github.com/wharfmq/wharf/cmd/wharfd")
	cmd := exec.CommandContext(ctx, "go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build wharfd: %v\n%s", err, out)
	}
	return bin, nil
}

// pprofOverlaySource is the file the pprof build adds to package main of
// cmd/wharfd.
const pprofOverlaySource = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

// Added by the bench's build (go build -overlay), not part of the source
// tree: serves net/http/pprof when WHARF_BENCH_PPROF_ADDR is set.
func init() {
	if addr := os.Getenv("WHARF_BENCH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

func writePprofOverlay(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/wharfmq/wharf/cmd/wharfd").Output()
	if err != nil {
		return "", fmt.Errorf("go list cmd/wharfd (run the bench inside the Wharf module): %w", err)
	}
	pkgDir := strings.TrimSpace(string(out))
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlaySource), 0o644); err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(pkgDir, "zz_bench_pprof.go"), src)
	return overlay, os.WriteFile(overlay, []byte(js), 0o644)
}

// StartWharfCluster starts n wharfd nodes of binary bin as a new cluster
// on 127.0.0.1, with data under dir, and waits until every node is ready.
// extra flags go to every node. With pprof, node i serves pprof on the
// address in PprofAddrs[i] (the binary must come from a pprof build).
func StartWharfCluster(ctx context.Context, bin, dir string, n int, pprof bool, extra ...string) (*WharfCluster, error) {
	return startWharfCluster(ctx, bin, dir, n, pprof, false, extra)
}

// StartWharfClusterTLS is StartWharfCluster with the API served over HTTPS:
// it makes a CA and node certificates in dir/certs (wharf certs), starts
// node i with --tls-cert/--tls-key of its certificate, and returns https
// endpoints and the CA.
func StartWharfClusterTLS(ctx context.Context, bin, dir string, n int, pprof bool, extra ...string) (*WharfCluster, error) {
	return startWharfCluster(ctx, bin, dir, n, pprof, true, extra)
}

func startWharfCluster(ctx context.Context, bin, dir string, n int, pprof, withTLS bool, extra []string) (*WharfCluster, error) {
	ports, err := FreePorts(3 * n)
	if err != nil {
		return nil, err
	}
	c := &WharfCluster{Dir: dir}
	// The nodes authenticate each other with a cluster key, as a real
	// cluster does (it costs a handshake per connection, nothing after).
	keyFile, err := writeClusterKey(dir)
	if err != nil {
		return nil, err
	}
	scheme, certs := "http", filepath.Join(dir, "certs")
	if withTLS {
		var names []string
		for i := 1; i <= n; i++ {
			names = append(names, fmt.Sprintf("node%d", i))
		}
		made, err := certgen.MakeDir(certgen.Request{Dir: certs, Nodes: names})
		if err != nil {
			return nil, err
		}
		if c.CA, err = tlsfiles.LoadCAPool(made.CACert); err != nil {
			return nil, err
		}
		scheme = "https"
	}
	var members []string
	for i := 1; i <= n; i++ {
		members = append(members, fmt.Sprintf("%d=127.0.0.1:%d", i, ports[3*i-2]))
	}
	for i := 1; i <= n; i++ {
		api := fmt.Sprintf("127.0.0.1:%d", ports[3*i-3])
		raft := fmt.Sprintf("127.0.0.1:%d", ports[3*i-2])
		args := append([]string{
			"--node-id", strconv.Itoa(i),
			"--data-dir", filepath.Join(dir, fmt.Sprintf("node%d", i)),
			"--api-addr", api, "--raft-addr", raft,
			"--initial-members", strings.Join(members, ","),
			"--cluster-key-file", keyFile,
			"--log-level", "warn",
		}, extra...)
		if withTLS {
			args = append(args, "--tls-cert", filepath.Join(certs, fmt.Sprintf("node%d.crt", i)),
				"--tls-key", filepath.Join(certs, fmt.Sprintf("node%d.key", i)))
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ()
		if pprof {
			addr := fmt.Sprintf("127.0.0.1:%d", ports[3*i-1])
			cmd.Env = append(cmd.Env, "WHARF_BENCH_PPROF_ADDR="+addr)
			c.PprofAddrs = append(c.PprofAddrs, addr)
		}
		p, err := StartProc(fmt.Sprintf("wharfd-%d", i), cmd, filepath.Join(dir, fmt.Sprintf("node%d.log", i)))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Procs = append(c.Procs, p)
		c.Endpoints = append(c.Endpoints, scheme+"://"+api)
	}
	for _, e := range c.Endpoints {
		if err := waitReady(ctx, e, c.CA, 60*time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// waitReady polls endpoint's /readyz until it answers 200; ca, if not
// nil, signs an https endpoint's certificate.
func waitReady(ctx context.Context, endpoint string, ca *x509.CertPool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsfiles.ClientConfig(ca)}}
	defer hc.CloseIdleConnections()
	for {
		resp, err := hc.Get(endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (last error: %v)", endpoint, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop terminates every node.
func (c *WharfCluster) Stop() {
	for _, p := range c.Procs {
		p.Stop(10 * time.Second)
	}
}

// ExternalEndpoints checks that each endpoint (a base URL, or host:port)
// answers TCP, for --endpoints.
func ExternalEndpoints(list []string) ([]string, error) {
	var out []string
	for _, e := range list {
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		host := strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")
		if _, _, err := net.SplitHostPort(strings.TrimRight(host, "/")); err != nil {
			return nil, fmt.Errorf("endpoint %q: %v", e, err)
		}
		out = append(out, strings.TrimRight(e, "/"))
	}
	if len(out) == 0 {
		return nil, errors.New("no endpoints")
	}
	return out, nil
}

// writeClusterKey writes a new cluster key (64 hex digits) under dir and
// returns its path.
func writeClusterKey(dir string) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	path := filepath.Join(dir, "cluster.key")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	return path, nil
}

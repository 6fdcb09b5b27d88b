package jepsen

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
)

// Build compiles wharfd from the module at repo into dir and returns the
// binary's path. env, if set, is added to the build's environment.
func Build(repo, dir string) (string, error) {
	bin := filepath.Join(dir, "wharfd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/wharfd")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/wharfd: %v\n%s", err, out)
	}
	return bin, nil
}

// Node is one wharfd process of the cluster, and its proxies.
type Node struct {
	ID      int
	DataDir string
	// APIAddr and RaftAddr are where wharfd listens; ProxyAPI and
	// ProxyRaft are where the other nodes reach it (advertised).
	APIAddr, RaftAddr   string
	ProxyAPI, ProxyRaft string
	// args are the flags of its first start (membership flags included:
	// a restart ignores them once the data directory has data).
	args []string
	// ClockOffset is the --test-clock-offset of the running process.
	ClockOffset time.Duration

	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	log    *os.File
	// stopping is set before the harness kills or stops the process, so
	// that an exit without it is a crash.
	stopping bool
}

// Running reports whether the process is up (paused counts as up).
func (n *Node) Running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Cluster runs wharfd processes on 127.0.0.1 behind the proxies of Net.
type Cluster struct {
	Bin string
	Dir string
	Net *Net
	Env []string // extra environment for every wharfd (planted bugs)
	// NodeArgs are extra flags for every wharfd.
	NodeArgs []string
	// PeerAuth is how the nodes authenticate each other (peerauth.go);
	// empty is PeerNone.
	PeerAuth string
	peer     peerCreds
	Logf     func(format string, args ...any)
	// CertDir holds the CA and node certificate after EnableTLS; ca is
	// the CA clients trust (nil: the API is plain HTTP).
	CertDir string
	ca      *x509.CertPool
	// creds sign the harness's requests (EnableAuth).
	creds sigv4.Credentials

	mu      sync.Mutex
	crashes []string // processes that exited without being told to
	nodes   map[int]*Node
	all     []*Node // every node ever started, forgotten ones too
	nextID  int
}

// NewCluster prepares a cluster of size nodes under dir; Start starts it.
func NewCluster(bin, dir string, size int, env []string, logf func(string, ...any)) (*Cluster, error) {
	c := &Cluster{Bin: bin, Dir: dir, Net: NewNet(), Env: env, Logf: logf, nodes: map[int]*Node{}, nextID: size + 1}
	var members []string
	for id := 1; id <= size; id++ {
		n, err := c.newNode(id)
		if err != nil {
			return nil, err
		}
		members = append(members, fmt.Sprintf("%d=%s", id, n.ProxyRaft))
	}
	for id := 1; id <= size; id++ {
		c.nodes[id].args = []string{"--node-id", fmt.Sprint(id), "--initial-members", strings.Join(members, ",")}
	}
	return c, nil
}

// newNode picks ports and starts the proxies of a new node.
func (c *Cluster) newNode(id int) (*Node, error) {
	addrs, err := FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, DataDir: filepath.Join(c.Dir, fmt.Sprintf("n%d", id)), APIAddr: addrs[0], RaftAddr: addrs[1]}
	if n.ProxyAPI, err = c.Net.Listen(id, "", n.APIAddr); err != nil {
		return nil, err
	}
	if n.ProxyRaft, err = c.Net.Listen(id, "", n.RaftAddr); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.all = append(c.all, n)
	c.mu.Unlock()
	return n, nil
}

// allNodes lists every node ever started, forgotten ones too.
func (c *Cluster) allNodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}

// everID lists the ids of every node ever started.
func (c *Cluster) everID() []int {
	var ids []int
	for _, n := range c.allNodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// FreeAddrs returns k distinct free addresses on 127.0.0.1 for servers
// that a test starts, holding every listener until all are chosen so that
// no port is handed out twice.
//
// The ports come from below the kernel's ephemeral range. A node keeps its
// ports across restarts, and a port from the ephemeral range may be taken
// in between as the local end of some outgoing connection (the proxies
// make many); the node then fails to start with "address already in use".
func FreeAddrs(k int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	lo, hi := fixedPortsLow, ephemeralLow()
	if hi-lo < 2*k {
		return nil, fmt.Errorf("no room for %d ports below the ephemeral range (starts at %d)", k, hi)
	}
	next := lo + rand.IntN(hi-lo)
	for tries := 0; len(out) < k && tries < hi-lo; tries++ {
		port := next
		next++
		if next >= hi {
			next = lo
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	if len(out) < k {
		return nil, fmt.Errorf("found %d of %d free ports in %d-%d", len(out), k, lo, hi-1)
	}
	return out, nil
}

// fixedPortsLow is the lowest port FreeAddrs hands out.
const fixedPortsLow = 10000

// ephemeralLow is the start of the kernel's ephemeral port range (32768 if
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > fixedPortsLow {
				return v
			}
		}
	}
	return 32768
}

// Start launches every node and waits until all are ready.
func (c *Cluster) Start(ctx context.Context) error {
	for _, n := range c.Nodes() {
		if err := c.launch(n); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes() {
		if err := c.WaitReady(ctx, n.ID, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// Nodes lists the nodes the cluster has (up or down), by id.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Node returns node id, or nil.
func (c *Cluster) Node(id int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// IDs lists the node ids.
func (c *Cluster) IDs() []int {
	var ids []int
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// Endpoints lists the API URLs of the nodes (clients talk to the nodes
// directly, not through the proxies).
func (c *Cluster) Endpoints() map[int]string {
	out := map[int]string{}
	for _, n := range c.Nodes() {
		out[n.ID] = c.apiURL(n.APIAddr)
	}
	return out
}

// launch starts node n's process with its flags.
func (c *Cluster) launch(n *Node) error {
	if n.Running() {
		return nil
	}
	if n.log == nil {
		f, err := os.OpenFile(filepath.Join(c.Dir, fmt.Sprintf("n%d.log", n.ID)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		n.log = f
	}
	args := []string{"--data-dir", n.DataDir, "--api-addr", n.APIAddr, "--raft-addr", n.RaftAddr,
		"--api-advertise-addr", n.ProxyAPI, "--raft-advertise-addr", n.ProxyRaft, "--log-level", "warn"}
	args = append(args, n.args...)
	peerArgs, err := c.peerArgs(n)
	if err != nil {
		return err
	}
	args = append(args, peerArgs...)
	args = append(args, c.NodeArgs...)
	if n.ClockOffset != 0 {
		args = append(args, "--test-clock-offset", n.ClockOffset.String())
	}
	cmd := exec.Command(c.Bin, args...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.Env = append(os.Environ(), c.Env...)
	// Its own process group: a Ctrl-C to the harness does not reach the
	// nodes before the harness kills them itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(n.log, "=== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), c.Bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	n.cmd, n.paused, n.stopping = cmd, false, false
	n.exited = make(chan struct{})
	exited := n.exited
	c.mu.Unlock()
	began := time.Now()
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		crashed := !n.stopping
		if crashed {
			c.crashes = append(c.crashes, fmt.Sprintf("node %d exited by itself (%v) %.1fs after its start at %s: %s",
				n.ID, err, time.Since(began).Seconds(), began.Format("15:04:05"), lastPanic(n.log.Name())))
		}
		c.mu.Unlock()
		close(exited)
		if crashed {
			c.Logf("CRASH: node %d exited by itself: %v", n.ID, err)
		}
	}()
	c.Net.SetPID(n.ID, cmd.Process.Pid)
	return nil
}

// Kill sends SIGKILL to node id and waits for it to die.
func (c *Cluster) Kill(id int) {
	c.kill(c.Node(id))
}

func (c *Cluster) kill(n *Node) {
	if n == nil || !n.Running() {
		return
	}
	id := n.ID
	c.mu.Lock()
	n.stopping = true
	c.mu.Unlock()
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.paused = false
	c.Net.SetPID(id, 0)
}

// Pause stops node id with SIGSTOP; Resume continues it.
func (c *Cluster) Pause(id int) {
	if n := c.Node(id); n != nil && n.Running() && !n.paused {
		n.cmd.Process.Signal(syscall.SIGSTOP)
		n.paused = true
	}
}

// Resume sends SIGCONT to a paused node.
func (c *Cluster) Resume(id int) {
	if n := c.Node(id); n != nil && n.Running() && n.paused {
		n.cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
}

// Restart starts node id again if it is down (with its clock offset).
func (c *Cluster) Restart(id int) error {
	n := c.Node(id)
	if n == nil {
		return fmt.Errorf("no node %d", id)
	}
	return c.launch(n)
}

// Stop stops node id cleanly (SIGTERM), killing it after a grace period.
func (c *Cluster) Stop(id int, grace time.Duration) {
	n := c.Node(id)
	if n == nil || !n.Running() {
		return
	}
	c.Resume(id)
	c.mu.Lock()
	n.stopping = true
	c.mu.Unlock()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(grace):
		c.Kill(id)
	}
	c.Net.SetPID(id, 0)
}

// Forget drops a node that left the cluster (its process must be down).
func (c *Cluster) Forget(id int) {
	c.Kill(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, id)
}

// Join starts a new node that joins through member's advertised Raft
// (peer) address, through the member's proxy; it returns the new node's id as the cluster will assign it
// (the next free one: ids are never reused by the harness either).
func (c *Cluster) Join(via int) (*Node, error) {
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	member := c.nodes[via]
	c.mu.Unlock()
	if member == nil {
		return nil, fmt.Errorf("no node %d to join through", via)
	}
	n, err := c.newNode(id)
	if err != nil {
		return nil, err
	}
	n.args = []string{"--node-id", fmt.Sprint(id), "--join", member.ProxyRaft}
	return n, c.launch(n)
}

// Close kills every node and stops the proxies.
func (c *Cluster) Close() {
	for _, n := range c.allNodes() {
		if n.paused && n.Running() {
			n.cmd.Process.Signal(syscall.SIGCONT)
		}
		c.kill(n)
		if n.log != nil {
			n.log.Close()
		}
	}
	c.Net.Close()
}

// Crashes lists the processes that exited without the harness asking.
func (c *Cluster) Crashes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.crashes)
}

// lastPanic returns the first line of the last panic in a node's log, or
// its last line.
func lastPanic(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "panic: ") || strings.HasPrefix(lines[i], "fatal error: ") {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

// Running lists the nodes whose process is up and not paused.
func (c *Cluster) Running() []int {
	var ids []int
	for _, n := range c.Nodes() {
		if n.Running() && !n.paused {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// Ready reports whether node id answers /readyz with 200.
func (c *Cluster) Ready(id int) bool {
	n := c.Node(id)
	if n == nil || !n.Running() || n.paused {
		return false
	}
	cl := c.httpClient(time.Second)
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(c.apiURL(n.APIAddr) + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits up to limit for node id to be ready.
func (c *Cluster) WaitReady(ctx context.Context, id int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if c.Ready(id) {
			return nil
		}
		n := c.Node(id)
		if n == nil || !n.Running() {
			return fmt.Errorf("node %d is not running (see %s)", id, filepath.Join(c.Dir, fmt.Sprintf("n%d.log", id)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d not ready after %v (see %s)", id, limit, filepath.Join(c.Dir, fmt.Sprintf("n%d.log", id)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Admin returns a ClusterService client for node id.
func (c *Cluster) Admin(id int) wharfv1.ClusterService {
	n := c.Node(id)
	addr := ""
	if n != nil {
		addr = n.APIAddr
	}
	return wharfv1.NewClusterServiceProtobufClient(c.apiURL(addr), c.signed(c.httpClient(5*time.Second)))
}

// Status asks the live nodes, in turn, for the cluster status.
func (c *Cluster) Status(ctx context.Context) (*wharfv1.GetClusterStatusResponse, error) {
	var last error
	for _, n := range c.Nodes() {
		if !n.Running() || n.paused {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := c.Admin(n.ID).GetClusterStatus(cctx, &wharfv1.GetClusterStatusRequest{})
		cancel()
		if err == nil {
			return st, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("no node running")
	}
	return nil, last
}

// BusyLeader returns the leader of the queue shard holding the most
// partitions (the busiest), or 0 if none is known.
func (c *Cluster) BusyLeader(ctx context.Context) int {
	st, err := c.Status(ctx)
	if err != nil {
		return 0
	}
	best, parts := 0, int32(0)
	for _, sh := range st.Shards {
		if sh.Kind == "queue" && sh.Partitions > parts && sh.LeaderNodeId != 0 {
			best, parts = int(sh.LeaderNodeId), sh.Partitions
		}
	}
	return best
}

// FailpointVersion is the failpoint-ctl the Makefile's failpoints-enable
// uses; BuildMutant runs the same one.
const FailpointVersion = "v0.0.0-20240528011301-b51a646c7c86"

// BuildMutant builds wharfd with the planted bugs of core/ compiled in
// (failpoints enabled), without touching the working tree: the committed
// tree (git archive HEAD) is unpacked into dir/src, failpoint-ctl rewrites
// core/ there, and the binary goes to dir. Which bug is active is chosen
// per process (GO_FAILPOINTS; see Options.Mutant).
func BuildMutant(repo, dir string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	steps := []struct {
		dir  string
		name string
		args []string
	}{
		{repo, "sh", []string{"-c", "git archive --format=tar HEAD | tar -x -C " + shellQuote(src)}},
		{src, "go", []string{"run", "github.com/pingcap/failpoint/failpoint-ctl@" + FailpointVersion, "enable", "core"}},
		{src, "go", []string{"build", "-o", filepath.Join(dir, "wharfd"), "./cmd/wharfd"}},
	}
	for _, s := range steps {
		cmd := exec.Command(s.name, s.args...)
		cmd.Dir = s.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s %s: %v\n%s", s.name, strings.Join(s.args, " "), err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "core", "queue", "binding__failpoint_binding__.go")); err != nil {
		return "", fmt.Errorf("failpoint-ctl did not rewrite core/queue: %v", err)
	}
	return filepath.Join(dir, "wharfd"), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

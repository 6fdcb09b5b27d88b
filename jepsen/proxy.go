package jepsen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Net is the network between the nodes, made of TCP proxies the harness
// owns: every node is advertised to the others (Raft and API) at a proxy
// address, and the proxy forwards to the node's real listen port. A node
// never takes part in its own partition: the proxy finds out which node a
// connection comes from by looking up the connecting socket in /proc (the
// accepted connection's remote port is the dialer's local port; its socket
// inode names the process that holds it), and applies the rules of that
// (from, to) link.
//
// Rules are one-way: Block(a, b) drops every byte node a sends to node b,
// on connections either of them opened. A link blocked both ways is cut:
// its connections are closed and new ones are accepted and then left
// hanging (reads discarded, nothing forwarded), as a dropped SYN-ACK would.
// A link blocked one way keeps its connections, and the proxy discards the
// bytes of the blocked direction. Whenever a link's rules change, its
// connections are closed, so no stream carries on with a hole in it.
// Connections from anything that is not a node (the harness's clients) are
// never blocked.
type Net struct {
	mu      sync.Mutex
	blocked map[link]bool
	pids    map[int]int // process id -> node id
	proxies []*proxy
	conns   map[*pconn]struct{}
	// accepted counts connections by whether their source was a node.
	accepted, identified int
	held                 int // connections accepted on a cut link and left hanging
}

type link struct{ from, to int }

// NewNet returns a network with every link open.
func NewNet() *Net {
	return &Net{blocked: map[link]bool{}, pids: map[int]int{}, conns: map[*pconn]struct{}{}}
}

// SetPID records that process pid is node id (0 pid: forget the node's).
func (n *Net) SetPID(id, pid int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p, i := range n.pids {
		if i == id {
			delete(n.pids, p)
		}
	}
	if pid > 0 {
		n.pids[pid] = id
	}
}

// Listen starts a proxy for node to that forwards to target, on a free
// port of 127.0.0.1 (or on addr when given); it returns the proxy's
// address, the one to advertise.
func (n *Net) Listen(to int, addr, target string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	p := &proxy{net: n, to: to, ln: ln, target: target}
	n.mu.Lock()
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	go p.serve()
	return ln.Addr().String(), nil
}

// Close stops every proxy and closes every connection.
func (n *Net) Close() {
	n.mu.Lock()
	proxies := n.proxies
	n.proxies = nil
	var conns []*pconn
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, p := range proxies {
		p.ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
}

// SetRules replaces the blocked links (from -> to) and closes the
// connections of every link whose rules changed.
func (n *Net) SetRules(blocked map[[2]int]bool) {
	n.mu.Lock()
	next := map[link]bool{}
	for l, b := range blocked {
		if b && l[0] != l[1] {
			next[link{l[0], l[1]}] = true
		}
	}
	changed := map[link]bool{}
	for l := range next {
		if !n.blocked[l] {
			changed[l], changed[link{l.to, l.from}] = true, true
		}
	}
	for l := range n.blocked {
		if !next[l] {
			changed[l], changed[link{l.to, l.from}] = true, true
		}
	}
	n.blocked = next
	var doomed []*pconn
	for c := range n.conns {
		if changed[link{c.from, c.to}] {
			doomed = append(doomed, c)
		}
	}
	n.mu.Unlock()
	for _, c := range doomed {
		c.close()
	}
}

// Heal opens every link.
func (n *Net) Heal() { n.SetRules(nil) }

// Blocked reports whether bytes from node a to node b are dropped.
func (n *Net) Blocked(a, b int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blocked[link{a, b}]
}

// Stats returns how many connections the proxies accepted, how many of
// those came from a node, and how many were held on a cut link.
func (n *Net) Stats() (accepted, identified, held int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accepted, n.identified, n.held
}

// Conns counts the proxied connections by (from, to); from 0 is not a node.
func (n *Net) Conns() map[[2]int]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[[2]int]int{}
	for c := range n.conns {
		out[[2]int{c.from, c.to}]++
	}
	return out
}

type proxy struct {
	net    *Net
	to     int
	ln     net.Listener
	target string
}

// pconn is one proxied connection.
type pconn struct {
	from, to int
	client   net.Conn
	server   net.Conn // nil while held
	once     sync.Once
}

func (c *pconn) close() {
	c.once.Do(func() {
		c.client.Close()
		if c.server != nil {
			c.server.Close()
		}
	})
}

func (p *proxy) serve() {
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(conn)
	}
}

func (p *proxy) handle(client net.Conn) {
	n := p.net
	n.mu.Lock()
	pids := make(map[int]int, len(n.pids))
	for pid, id := range n.pids {
		pids[pid] = id
	}
	n.mu.Unlock()
	from := sourceNode(client, pids)
	c := &pconn{from: from, to: p.to, client: client}

	n.mu.Lock()
	cut := n.blocked[link{from, p.to}] && n.blocked[link{p.to, from}]
	n.conns[c] = struct{}{}
	n.accepted++
	if from != 0 {
		n.identified++
	}
	if cut {
		n.held++
	}
	n.mu.Unlock()
	defer func() {
		c.close()
		n.mu.Lock()
		delete(n.conns, c)
		n.mu.Unlock()
	}()
	if cut {
		// Hold it: the dialer sees a connection that never answers.
		io.Copy(io.Discard, client)
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the node is down: so is its proxy, to the dialer
	}
	n.mu.Lock()
	_, live := n.conns[c]
	c.server = server
	n.mu.Unlock()
	if !live {
		server.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client, from, p.to); done <- struct{}{} }()
	go func() { p.pump(client, server, p.to, from); done <- struct{}{} }()
	<-done
	c.close()
	<-done
}

// pump copies src to dst, the bytes going from node a to node b; while
// that direction is blocked they are dropped.
func (p *proxy) pump(dst, src net.Conn, a, b int) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 && !p.net.Blocked(a, b) {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// sourceNode names the node that opened conn, or 0 if no node's process
// holds the dialing socket.
func sourceNode(conn net.Conn, pids map[int]int) int {
	if len(pids) == 0 {
		return 0
	}
	remote, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	local, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0
	}
	inode := socketInode(remote.Port, local.Port)
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	for pid, id := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
			if err == nil && l == want {
				return id
			}
		}
	}
	return 0
}

// socketInode finds, in /proc/net/tcp, the socket whose local port is
// localPort and remote port remotePort (the dialer's side of a connection
// to the proxy), and returns its inode.
func socketInode(localPort, remotePort int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if hexPort(fields[1]) == localPort && hexPort(fields[2]) == remotePort {
			if fields[9] != "0" {
				return fields[9]
			}
		}
	}
	return ""
}

// hexPort reads the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, port, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	v, err := strconv.ParseUint(port, 16, 32)
	if err != nil {
		return -1
	}
	return int(v)
}

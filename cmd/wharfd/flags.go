package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/wharfmq/wharf/core/meta"
	"github.com/wharfmq/wharf/core/node"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// config is wharfd's command line.
type config struct {
	dataDir  string
	apiAddr  string
	raftAddr string
	// apiAdvertise and raftAdvertise are the addresses other nodes reach
	// this one at (a proxy, a NAT); each defaults to its listen address.
	apiAdvertise  string
	raftAdvertise string
	nodeID        uint64
	queueShards   int
	// initialMembers: node id to Raft address, from --initial-members.
	initialMembers    map[uint64]string
	join              string
	replicationFactor int
	// snapshotEntries: 0 leaves the node's defaults; tests lower it to
	// force snapshots and log compaction.
	snapshotEntries uint64
	logLevel        string
	logFormat       string
	// clockOffset shifts the node's clock (tests only: clock skew).
	clockOffset time.Duration
	// pprofAddr, when set, is the host:port net/http/pprof is served on,
	// on a listener of its own (never the API address).
	pprofAddr string

	// Security (README "Security"). tlsCert and tlsKey serve the API over
	// HTTPS. peerCA, peerCert and peerKey authenticate nodes to each other
	// with mutual TLS on the Raft (peer) port. clusterKeyFile holds the
	// cluster key shared by every node (loadClusterKey): it authenticates
	// peers when TLS is off and encrypts access-key secrets at rest.
	// insecure lets a cluster of several nodes run with no peer
	// authentication at all.
	tlsCert        string
	tlsKey         string
	peerCA         string
	peerCert       string
	peerKey        string
	clusterKeyFile string
	insecure       bool
	// bootstrapAdminKeyFile holds the access key of the admin principal
	// created at first start (auth.go).
	bootstrapAdminKeyFile string

	limits limitsConfig // limits.go
}

// parseFlags parses args. It returns flag.ErrHelp for -h, and an error
// already printed to stderr (with the usage) for any other mistake.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("wharfd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wharfd [flags]\n\nRuns one Wharf node: the Twirp API for clients on --api-addr; Raft and node-to-node calls on --raft-addr.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.dataDir, "data-dir", "./wharf-data", "directory holding the node's data (created if missing)")
	fs.StringVar(&c.apiAddr, "api-addr", "127.0.0.1:7070", "host:port to serve the HTTP API on")
	fs.StringVar(&c.raftAddr, "raft-addr", "127.0.0.1:7071", "host:port of the peer port: Raft and every other node-to-node call, authenticated (--peer-ca or --cluster-key-file)")
	fs.StringVar(&c.apiAdvertise, "api-advertise-addr", "", "host:port other nodes reach this node's API at, if not --api-addr (a proxy or NAT in between)")
	fs.StringVar(&c.raftAdvertise, "raft-advertise-addr", "", "host:port other nodes reach this node's Raft at, if not --raft-addr (a proxy or NAT in between); --initial-members lists this address")
	fs.Uint64Var(&c.nodeID, "node-id", 0, "this node's id, 1-999 (default: the one its data directory records; 1 for a new single node; chosen by the cluster with --join)")
	fs.IntVar(&c.queueShards, "queue-shards", 4, "queue shards a new cluster creates")
	members := fs.String("initial-members", "", `start a new cluster of these nodes: "1=host:raftport,2=host:raftport,3=host:raftport" (this node included)`)
	fs.StringVar(&c.join, "join", "", "Raft (peer) host:port of a member of a running cluster to join (needs the cluster's --cluster-key-file or peer certificates)")
	fs.IntVar(&c.replicationFactor, "replication-factor", 3, "replicas per queue shard in a new cluster (1-5, capped at the number of nodes)")
	fs.Uint64Var(&c.snapshotEntries, "snapshot-entries", 0, "applied entries between Raft snapshots of a shard (0: the node's defaults)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "host:port to serve net/http/pprof on, on its own listener (off when empty; keep it on 127.0.0.1 or a private network)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve the API over HTTPS with; needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.peerCA, "peer-ca", "", "PEM CA certificate that signs every node's certificate: nodes talk to each other over mutual TLS (needs --peer-cert and --peer-key)")
	fs.StringVar(&c.peerCert, "peer-cert", "", "PEM certificate of this node, signed by --peer-ca, for node-to-node mutual TLS")
	fs.StringVar(&c.peerKey, "peer-key", "", "PEM private key of --peer-cert")
	fs.StringVar(&c.clusterKeyFile, "cluster-key-file", "", "file holding the cluster key shared by every node (64 hex digits; `wharf certs` makes one): authenticates nodes to each other when mutual TLS is off, and encrypts access-key secrets at rest")
	fs.BoolVar(&c.insecure, "insecure", false, "let a cluster of several nodes run with no node-to-node authentication (neither --peer-ca nor --cluster-key-file); never in production")
	fs.StringVar(&c.bootstrapAdminKeyFile, "bootstrap-admin-key-file", "", `file holding "ACCESS_KEY_ID:SECRET": if no principal exists yet, the principal "admin" is created with this key and every permission, which turns authentication on (the file is created with a new key when missing)`)
	c.limits.register(fs)
	fs.DurationVar(&c.clockOffset, "test-clock-offset", 0, "TEST ONLY: shift this node's clock by this much (clock-skew tests); never set it in production")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.raftAdvertise == "" {
		c.raftAdvertise = c.raftAddr
	}

	var problems []string
	if *members != "" {
		m, err := parseMembers(*members)
		if err != nil {
			problems = append(problems, err.Error())
		} else if c.nodeID == 0 {
			problems = append(problems, "--initial-members needs --node-id: which of the members this node is")
		} else if _, ok := m[c.nodeID]; !ok {
			problems = append(problems, fmt.Sprintf("--initial-members must include this node (--node-id %d)", c.nodeID))
		} else if m[c.nodeID] != c.raftAdvertise {
			problems = append(problems, fmt.Sprintf("--initial-members gives node %d the Raft address %s, but --raft-advertise-addr (default --raft-addr) is %s", c.nodeID, m[c.nodeID], c.raftAdvertise))
		}
		c.initialMembers = m
	}
	if *members != "" && c.join != "" {
		problems = append(problems, "--initial-members and --join exclude each other: start a new cluster or join one")
	}
	if c.replicationFactor < 1 || c.replicationFactor > meta.MaxReplicationFactor {
		problems = append(problems, fmt.Sprintf("--replication-factor must be 1 to %d", meta.MaxReplicationFactor))
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	if c.dataDir == "" {
		problems = append(problems, "--data-dir must not be empty")
	}
	if c.apiAddr == "" || c.raftAddr == "" {
		problems = append(problems, "--api-addr and --raft-addr must not be empty")
	}
	if c.pprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.pprofAddr); err != nil {
			problems = append(problems, fmt.Sprintf("--pprof-addr must be host:port: %v", err))
		} else if c.pprofAddr == c.apiAddr || c.pprofAddr == c.raftAddr {
			problems = append(problems, "--pprof-addr must differ from --api-addr and --raft-addr")
		}
	}
	nodeIDSet := false
	fs.Visit(func(f *flag.Flag) { nodeIDSet = nodeIDSet || f.Name == "node-id" })
	if nodeIDSet && (c.nodeID == 0 || c.nodeID > meta.MaxNodeID) {
		problems = append(problems, fmt.Sprintf("--node-id must be 1 to %d", meta.MaxNodeID))
	}
	if c.queueShards < 1 || c.queueShards > node.MaxQueueShards {
		problems = append(problems, fmt.Sprintf("--queue-shards must be 1 to %d", node.MaxQueueShards))
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		problems = append(problems, err.Error())
	}
	if p := peerAuthProblem(c); p != "" {
		problems = append(problems, p)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		problems = append(problems, "--tls-cert and --tls-key go together")
	}
	if n := countSet(c.peerCA, c.peerCert, c.peerKey); n != 0 && n != 3 {
		problems = append(problems, "--peer-ca, --peer-cert and --peer-key go together")
	}
	problems = append(problems, c.limits.problems()...)
	if c.logFormat != "text" && c.logFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format must be text or json, not %q", c.logFormat))
	}
	if len(problems) > 0 {
		err := errors.New(strings.Join(problems, "; "))
		fmt.Fprintf(stderr, "wharfd: %v\n", err)
		fs.Usage()
		return c, err
	}
	return c, nil
}

// countSet counts the non-empty strings.
func countSet(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

func newLogger(w io.Writer, c config) *slog.Logger {
	level, _ := parseLevel(c.logLevel) // checked by parseFlags
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseMembers parses "1=host:port,2=host:port".
func parseMembers(s string) (map[uint64]string, error) {
	m := map[uint64]string{}
	addrs := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 || n > meta.MaxNodeID || addr == "" {
			return nil, fmt.Errorf("--initial-members: %q is not node-id=host:port with an id from 1 to %d", part, meta.MaxNodeID)
		}
		if _, dup := m[n]; dup || addrs[addr] {
			return nil, fmt.Errorf("--initial-members: node %d or address %s given twice", n, addr)
		}
		m[n], addrs[addr] = addr, true
	}
	if len(m) > meta.MaxNodes {
		return nil, fmt.Errorf("--initial-members: at most %d nodes, got %d", meta.MaxNodes, len(m))
	}
	return m, nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/twitchtv/twirp"

	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	"github.com/wharfmq/wharf/transport/peer"
	"github.com/wharfmq/wharf/transport/peerlink"
	"github.com/wharfmq/wharf/transport/raftnet"
	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// The peer port is the node's Raft listen address (--raft-addr). It is the
// only door between nodes: Raft frames and NodeService calls (forwarded
// proposals and reads, long-poll waits, status, joins) both come in
// through transport/peerlink, which authenticates every connection (mutual
// TLS with --peer-ca/--peer-cert/--peer-key, or the cluster key of
// --cluster-key-file) before handing it on. The API port serves clients
// only.

// peerAuthProblem returns why the flags may not start this node, or "":
// a node that starts or joins a cluster of several nodes must authenticate
// its peers, unless --insecure says otherwise.
func peerAuthProblem(c config) string {
	multi := len(c.initialMembers) > 1 || c.join != ""
	if !multi || c.insecure || c.peerCA != "" || c.clusterKeyFile != "" {
		return ""
	}
	return "a cluster of several nodes needs node-to-node authentication: give every node --cluster-key-file " +
		"(a shared key) or --peer-ca, --peer-cert and --peer-key (mutual TLS); " +
		"--insecure runs without it (anyone who reaches --raft-addr can then act as a node)"
}

// peerDoor is the node's peer port, and its side of the connections it
// dials to the others.
type peerDoor struct {
	link    *peerlink.Link
	ln      *peerlink.Listener
	rpc     *swappableHandler // NodeService once the node runs
	served  chan error
	stopRPC context.CancelFunc
}

// openPeerDoor loads the peer credentials, binds the peer port and serves
// NodeService on it at once, answering unavailable while the node starts
// (as the API port does, and for the same reason).
func openPeerDoor(cfg config, reloads *tlsfiles.Reloaders, logger *slog.Logger) (*peerDoor, error) {
	opts := peerlink.Options{NodeID: cfg.nodeID, Logger: logger.With("component", "peerlink")}
	if cfg.peerCA != "" {
		creds, err := peerlink.LoadCredentials(cfg.peerCA, cfg.peerCert, cfg.peerKey)
		if err != nil {
			return nil, fmt.Errorf("--peer-ca/--peer-cert/--peer-key: %w", err)
		}
		opts.TLS = creds
		reloads.Add(creds) // SIGHUP reloads the CA and the node's pair
	}
	if cfg.clusterKeyFile != "" {
		key, err := loadClusterKey(cfg.clusterKeyFile)
		if err != nil {
			return nil, err
		}
		opts.ClusterKey = key
	}
	link, err := peerlink.New(opts)
	if err != nil {
		return nil, err
	}
	if !link.Authenticated() && cfg.insecure && (len(cfg.initialMembers) > 1 || cfg.join != "") {
		logger.Warn("INSECURE: nodes do not authenticate each other (--insecure): anyone who reaches --raft-addr can act as a node of this cluster",
			"raft_addr", cfg.raftAddr)
	}
	ln, err := link.Listen(cfg.raftAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --raft-addr %s: %w", cfg.raftAddr, err)
	}
	d := &peerDoor{link: link, ln: ln, rpc: &swappableHandler{}, served: make(chan error, 1)}
	d.rpc.set(startingHandler())
	ctx, stop := context.WithCancel(context.Background())
	d.stopRPC = stop
	plog := logger.With("component", "peer")
	go func() { d.served <- serve(ctx, ln.RPC(), d.rpc, plog, drainTimeout) }()
	return d, nil
}

// dialRPC opens an authenticated NodeService connection (transport/peer).
func (d *peerDoor) dialRPC(ctx context.Context, addr string) (net.Conn, error) {
	return d.link.Dial(ctx, addr, peerlink.RPC)
}

// raftTransport is the node's Raft transport: raftnet on the peer port's
// authenticated Raft connections.
func (d *peerDoor) raftTransport(logger *slog.Logger) raftnet.Factory {
	return raftnet.Factory{
		Logger:   logger,
		Listener: d.ln.Raft(),
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			return d.link.Dial(ctx, addr, peerlink.Raft)
		},
	}
}

// serveNode serves the running node's NodeService on the peer port.
func (d *peerDoor) serveNode(svc nodev1.NodeService, logger *slog.Logger) {
	d.rpc.set(peer.NewHandler(svc, logger.With("component", "peer")))
}

// close drains NodeService calls (as the API's are drained) and closes the
// peer port. Raft connections are the node's to close.
func (d *peerDoor) close() error {
	d.stopRPC()
	err := <-d.served
	d.ln.Close()
	return err
}

// notOnAPIPort answers NodeService paths on the API port: the service is
// served on the peer port only, so a request here never reaches it.
func notOnAPIPort() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = twirp.WriteError(w, twirp.NewError(twirp.BadRoute,
			"NodeService is not served on the API port; nodes reach each other on their Raft (peer) address"))
	})
}

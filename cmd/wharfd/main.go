// Command wharfd runs one Wharf node and serves its API over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/apiauth"
	"github.com/wharfmq/wharf/transport/peer"
	"github.com/wharfmq/wharf/transport/tlsfiles"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so that a
	// second one kills a shutdown that hangs.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stderr, startNode)
	stop()
	os.Exit(code)
}

// server is what wharfd needs of a node; *node.Node provides it.
type server interface {
	wharfv1.QueueService
	wharfv1.ClusterService
	// NodeService is what the other nodes call, on the peer port.
	NodeService() nodev1.NodeService
	// authServer: principals and access keys (auth.go).
	authServer
	Ready() bool
	Close() error
}

type startFunc func(context.Context, node.Config) (server, error)

func startNode(ctx context.Context, cfg node.Config) (server, error) {
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return nil, err // not a nil *node.Node in a non-nil interface
	}
	return n, nil
}

// run is wharfd's main. It returns the exit code: 0 after a clean
// shutdown, 1 when the node cannot start or serve, 2 for bad flags.
func run(ctx context.Context, args []string, stderr io.Writer, start startFunc) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	logger := newLogger(stderr, cfg)

	dataDir, err := filepath.Abs(cfg.dataDir)
	if err == nil {
		err = os.MkdirAll(dataDir, 0o750)
	}
	if err != nil {
		logger.Error("cannot create data directory", "data_dir", cfg.dataDir, "err", err)
		return 1
	}

	// TLS files are loaded before anything binds, so a bad file fails
	// fast. reloads is what SIGHUP reloads; the peer port adds its files.
	reloads := &tlsfiles.Reloaders{}
	apiTLSConfig, err := apiTLS(cfg, reloads)
	if err != nil {
		logger.Error("cannot load the API certificate", "err", err)
		return 1
	}
	stopReloads := reloadOnHangup(reloads, logger)
	defer stopReloads()

	// Bind the API port before starting the node, so a port conflict
	// fails fast instead of after the node has opened its data.
	ln, err := net.Listen("tcp", cfg.apiAddr)
	if err != nil {
		logger.Error("cannot listen on --api-addr", "addr", cfg.apiAddr, "err", err)
		return 1
	}
	defer ln.Close()
	// The connection cap wraps the raw listener, before any TLS
	// handshake: a connection over it costs no more than its accept.
	lim, err := newAPILimits(cfg.limits, logger.With("component", "limits"))
	if err != nil {
		logger.Error("bad limits", "err", err)
		return 1
	}
	ln, scheme := apiListener(lim.listener(ln), apiTLSConfig)
	// The peer port (peer.go): Raft and NodeService, authenticated.
	door, err := openPeerDoor(cfg, reloads, logger)
	if err != nil {
		logger.Error("cannot open the peer port", "err", err)
		return 1
	}
	defer door.close()
	if cfg.pprofAddr != "" {
		pln, err := net.Listen("tcp", cfg.pprofAddr)
		if err != nil {
			logger.Error("cannot listen on --pprof-addr", "addr", cfg.pprofAddr, "err", err)
			return 1
		}
		pctx, stopPprof := context.WithCancel(context.Background())
		defer stopPprof()
		go servePprof(pctx, pln, logger.With("component", "pprof"))
		logger.Info("serving pprof", "pprof_addr", pln.Addr().String())
	}

	// Serve the API port at once: while the node starts, every request is
	// answered unavailable, so that a peer's forward fails over to another
	// node at once instead of waiting in the accept queue for its deadline
	// (two starting nodes forwarding their registration to each other
	// stalled a whole restart of a 5-node cluster in the Jepsen suite).
	api := &swappableHandler{}
	api.set(startingHandler())
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- serve(sctx, ln, api, logger, drainTimeout) }()

	peers := peer.NewClient(door.dialRPC)
	defer peers.Close()
	logger.Info("starting node", "node_id", cfg.nodeID, "data_dir", dataDir)
	began := time.Now()
	apiAdvertise := cfg.apiAdvertise
	if apiAdvertise == "" {
		apiAdvertise = ln.Addr().String()
	}
	raftListen := ""
	if cfg.raftAdvertise != cfg.raftAddr {
		raftListen = cfg.raftAddr
	}
	var now func() time.Time
	if off := cfg.clockOffset; off != 0 {
		logger.Warn("TEST ONLY: the node's clock is shifted", "offset", off)
		now = func() time.Time { return time.Now().Add(off) }
	}
	clusterKey, err := accessKeyKey(cfg, dataDir, logger)
	if err != nil {
		logger.Error("cannot load the cluster key", "err", err)
		stopServing()
		<-served
		return 1
	}
	n, err := start(ctx, node.Config{
		NodeID:            cfg.nodeID,
		DataDir:           dataDir,
		RaftAddr:          cfg.raftAdvertise,
		RaftListenAddr:    raftListen,
		APIAddr:           apiAdvertise,
		Now:               now,
		InitialMembers:    cfg.initialMembers,
		Join:              cfg.join,
		ReplicationFactor: cfg.replicationFactor,
		QueueShards:       cfg.queueShards,
		SnapshotEntries:   cfg.snapshotEntries,
		Peers:             peers,
		LongPolls:         lim.longPolls,
		RaftTransport:     door.raftTransport(logger),
		RefuseOpenCluster: !door.link.Authenticated() && !cfg.insecure,
		Logger:            logger.With("component", "node"),
		ClusterKey:        clusterKey,
	})
	if err != nil {
		logger.Error("cannot start node", "err", err)
		stopServing()
		<-served
		return 1
	}

	if err := startAuth(ctx, n, cfg, logger); err != nil {
		logger.Error("cannot set up authentication", "err", err)
		stopServing()
		<-served
		n.Close()
		return 1
	}
	logger.Info("wharfd serving", "api_url", scheme+"://"+ln.Addr().String(), "api_addr", ln.Addr().String(), "raft_addr", cfg.raftAddr,
		"data_dir", dataDir, "node_id", cfg.nodeID, "queue_shards", cfg.queueShards,
		"startup", time.Since(began).Round(time.Millisecond))
	door.serveNode(n.NodeService(), logger)
	api.set(handler(n, lim, logger))
	code := 0
	if err := <-served; err != nil {
		logger.Error("http server failed", "err", err)
		code = 1
	}

	// Only now, with no request in flight, stop the node.
	if err := n.Close(); err != nil {
		logger.Error("closing node", "err", err)
		return 1
	}
	logger.Info("stopped")
	return code
}

// handler serves the queue API and the cluster API on the API address.
// NodeService is not among them: it is served on the peer port (peer.go).
// Requests are authenticated first (guardAPI), then counted against their
// principal's limits (lim), then served.
func handler(n server, lim *apiLimits, logger *slog.Logger) http.Handler {
	api := logger.With("component", "api")
	mux := http.NewServeMux()
	mux.Handle("/", twirpapi.NewHandler(apiauth.Queues(n), n.Ready, api))
	cluster := twirpapi.NewClusterHandler(apiauth.Cluster(n), api)
	mux.Handle(wharfv1.ClusterServicePathPrefix, cluster)
	mux.Handle(wharfv1.AdminServicePathPrefix, twirpapi.NewAdminHandler(apiauth.Admin(n), api))
	mux.Handle(nodev1.NodeServicePathPrefix, notOnAPIPort())
	return guardAPI(lim.handler(mux), n, logger)
}

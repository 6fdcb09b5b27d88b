// Command wharfd runs one Wharf node and serves its API over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	dbconfig "github.com/lni/dragonboat/v4/config"

	"github.com/wharfmq/wharf/core/node"
	nodev1 "github.com/wharfmq/wharf/proto/wharf/node/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/peer"
	"github.com/wharfmq/wharf/transport/raftnet"
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
	// NodeService is what the other nodes call.
	NodeService() nodev1.NodeService
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

	// Bind the API port before starting the node, so a port conflict
	// fails fast instead of after the node has opened its data.
	ln, err := net.Listen("tcp", cfg.apiAddr)
	if err != nil {
		logger.Error("cannot listen on --api-addr", "addr", cfg.apiAddr, "err", err)
		return 1
	}
	defer ln.Close()
	lim, err := newAPILimits(cfg.limits, logger.With("component", "limits"))
	if err != nil {
		logger.Error("bad limits", "err", err)
		return 1
	}
	ln = lim.listener(ln)
	if err := checkFree(cfg.raftAddr); err != nil {
		logger.Error("cannot listen on --raft-addr", "addr", cfg.raftAddr, "err", err)
		return 1
	}
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

	peers := peer.NewClient()
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
		RaftTransport:     raftTransport(cfg.raftTransport, logger),
		Logger:            logger.With("component", "node"),
	})
	if err != nil {
		logger.Error("cannot start node", "err", err)
		stopServing()
		<-served
		return 1
	}

	logger.Info("wharfd serving", "api_addr", ln.Addr().String(), "raft_addr", cfg.raftAddr,
		"data_dir", dataDir, "node_id", cfg.nodeID, "queue_shards", cfg.queueShards,
		"startup", time.Since(began).Round(time.Millisecond))
	api.set(lim.handler(handler(n, logger)))
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

// handler serves the queue API, the cluster API and, for the other nodes,
// NodeService, all on the API address.
func handler(n server, logger *slog.Logger) http.Handler {
	api := logger.With("component", "api")
	mux := http.NewServeMux()
	mux.Handle("/", twirpapi.NewHandler(n, n.Ready, api))
	cluster := twirpapi.NewClusterHandler(n, api)
	mux.Handle(wharfv1.ClusterServicePathPrefix, cluster)
	nodes := peer.NewHandler(n.NodeService(), logger.With("component", "peer"))
	mux.Handle(nodev1.NodeServicePathPrefix, nodes)
	return mux
}

// checkFree reports whether addr can be listened on, so that a Raft port
// conflict gets as clear a message as an API one. The node binds it again
// right after; closing a listener that accepted nothing leaves no
// TIME_WAIT behind.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := ln.Close(); err != nil {
		return fmt.Errorf("close probe listener: %w", err)
	}
	return nil
}

// raftTransport is the node's Raft transport for --raft-transport; nil
// leaves dragonboat's own.
func raftTransport(name string, logger *slog.Logger) dbconfig.TransportFactory {
	if name == "dragonboat" {
		return nil
	}
	return raftnet.Factory{Logger: logger}
}

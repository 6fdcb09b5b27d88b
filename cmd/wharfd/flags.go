package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// config is wharfd's command line.
type config struct {
	dataDir     string
	apiAddr     string
	raftAddr    string
	nodeID      uint64
	queueShards int
	// snapshotEntries: 0 leaves the node's defaults; tests lower it to
	// force snapshots and log compaction.
	snapshotEntries uint64
	logLevel        string
	logFormat       string
}

// parseFlags parses args. It returns flag.ErrHelp for -h, and an error
// already printed to stderr (with the usage) for any other mistake.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("wharfd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wharfd [flags]\n\nRuns one Wharf node: the Twirp API on --api-addr, Raft on --raft-addr.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.dataDir, "data-dir", "./wharf-data", "directory holding the node's data (created if missing)")
	fs.StringVar(&c.apiAddr, "api-addr", "127.0.0.1:7070", "host:port to serve the HTTP API on")
	fs.StringVar(&c.raftAddr, "raft-addr", "127.0.0.1:7071", "host:port for Raft traffic between nodes")
	fs.Uint64Var(&c.nodeID, "node-id", 1, "this node's replica id (1 for a single node)")
	fs.IntVar(&c.queueShards, "queue-shards", 4, "queue shards a new cluster creates")
	fs.Uint64Var(&c.snapshotEntries, "snapshot-entries", 0, "applied entries between Raft snapshots of a shard (0: the node's defaults)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return c, err
	}

	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	if c.dataDir == "" {
		problems = append(problems, "--data-dir must not be empty")
	}
	if c.apiAddr == "" || c.raftAddr == "" {
		problems = append(problems, "--api-addr and --raft-addr must not be empty")
	}
	if c.nodeID == 0 {
		problems = append(problems, "--node-id must be at least 1")
	}
	if c.queueShards < 1 {
		problems = append(problems, "--queue-shards must be at least 1")
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		problems = append(problems, err.Error())
	}
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

package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// cli holds what every command needs. Commands write to out and talk to the
// service from service(); tests build a cli around buffers and a fake.
type cli struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer

	// Global flags. They are accepted before or after the command name.
	endpoint string
	json     bool
	// ca is the PEM file of the CA https endpoints are checked against
	// (--ca, default $WHARF_CA; empty: the system's roots); caPool is it
	// loaded, by parse.
	ca     string
	caPool *x509.CertPool

	// dial makes the service for the endpoints (any node of a cluster
	// serves any request; the client fails over between them). It is
	// called once, after all flags are parsed, because --endpoint may
	// follow the command.
	dial func(endpoints []string) wharfv1.QueueService
	svc  wharfv1.QueueService
	// dialCluster is dial for the cluster commands.
	dialCluster func(endpoints []string) wharfv1.ClusterService
	clusterSvc  wharfv1.ClusterService
	// dialAdmin is dial for principals, keys and permissions (principal.go).
	dialAdmin func(endpoints []string) wharfv1.AdminService
	adminSvc  wharfv1.AdminService
}

func (c *cli) service() wharfv1.QueueService {
	if c.svc == nil {
		c.svc = c.dial(client.SplitEndpoints(c.endpoint))
	}
	return c.svc
}

func (c *cli) cluster() wharfv1.ClusterService {
	if c.clusterSvc == nil {
		c.clusterSvc = c.dialCluster(client.SplitEndpoints(c.endpoint))
	}
	return c.clusterSvc
}

type command struct {
	name    string // "send", "queue create"
	args    string // synopsis after the name
	summary string
	run     func(*cli, context.Context, []string) error
}

// commands is every command, in the order usage lists them.
var commands = []command{
	{"queue create", "NAME [--fifo] [--partitions N] [attribute flags]", "create a queue", (*cli).queueCreate},
	{"queue delete", "NAME", "delete a queue and its messages", (*cli).queueDelete},
	{"queue list", "[--prefix P]", "list queue names", (*cli).queueList},
	{"queue get", "NAME", "show a queue's attributes and counts", (*cli).queueGet},
	{"queue update", "NAME [attribute flags]", "change the attributes given", (*cli).queueUpdate},
	{"queue purge", "NAME", "delete all messages in a queue", (*cli).queuePurge},
	{"send", "QUEUE [BODY|-] [flags]", "send a message (body from stdin without BODY or with -)", (*cli).send},
	{"receive", "QUEUE [flags]", "receive messages", (*cli).receive},
	{"delete", "QUEUE RECEIPT_HANDLE", "delete a received message", (*cli).deleteMessage},
	{"change-visibility", "QUEUE RECEIPT_HANDLE SECONDS", "change a received message's visibility timeout", (*cli).changeVisibility},
	{"cluster status", "", "show the cluster's nodes and shards", (*cli).clusterStatus},
	{"cluster add", "--raft-addr H:P --api-addr H:P [--node-id N]", "register a node by hand (wharfd --join does it itself)", (*cli).clusterAdd},
	{"cluster remove", "NODE_ID", "drain a node: move its replicas away, then forget it", (*cli).clusterRemove},
	{"principal create", "NAME [--admin]", "create a principal with an access key (the first one turns authentication on)", (*cli).principalCreate},
	{"principal list", "", "list principals, their access keys and permissions", (*cli).principalList},
	{"principal delete", "NAME", "delete a principal and its access keys", (*cli).principalDelete},
	{"key create", "PRINCIPAL", "add an access key to a principal", (*cli).keyCreate},
	{"key revoke", "ACCESS_KEY_ID", "revoke an access key", (*cli).keyRevoke},
	{"grant", "PRINCIPAL ACTIONS QUEUE_PATTERN", "grant actions on the queues matching a pattern", (*cli).grant},
	{"revoke", "PRINCIPAL ACTIONS QUEUE_PATTERN", "revoke actions granted on a pattern", (*cli).revoke},
	{"bench", "[run|suite] [flags]", "run the load generator (see bench/README.md)", (*cli).bench},
	{"certs", "[--dir DIR] [--hosts H,...] [--force] NODE...", "create a CA, node certificates and the cluster key for TLS", (*cli).certs},
}

// groups are the words that take a subcommand: "queue create".
var groups = []string{"queue", "cluster", "principal", "key"}

// errUsage marks a mistake in the command line, already reported.
var errUsage = errors.New("usage error")

// run runs the command line args and returns the exit code: 0 on success,
// 1 when the request fails, 2 for a usage error.
func (c *cli) run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("wharf", flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	fs.Usage = func() { c.usage(c.errOut) }
	c.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c.exitCode(c.flagError(err))
	}
	args = fs.Args()
	if len(args) == 0 {
		c.usage(c.errOut)
		return 2
	}
	if args[0] == "help" {
		c.usage(c.out)
		return 0
	}

	name, rest := args[0], args[1:]
	if slices.Contains(groups, name) {
		if len(rest) == 0 {
			fmt.Fprintf(c.errOut, "wharf: %s needs a subcommand: %s\n", name, subcommands(name))
			return 2
		}
		name, rest = name+" "+rest[0], rest[1:]
	}
	for _, cmd := range commands {
		if cmd.name == name {
			return c.exitCode(cmd.run(c, ctx, rest))
		}
	}
	fmt.Fprintf(c.errOut, "wharf: unknown command %q (run 'wharf help')\n", name)
	return 2
}

// subcommands lists group's subcommands: "status, add or remove".
func subcommands(group string) string {
	var subs []string
	for _, cmd := range commands {
		if sub, ok := strings.CutPrefix(cmd.name, group+" "); ok {
			subs = append(subs, sub)
		}
	}
	if len(subs) < 2 {
		return strings.Join(subs, "")
	}
	return strings.Join(subs[:len(subs)-1], ", ") + " or " + subs[len(subs)-1]
}

func (c *cli) globalFlags(fs *flag.FlagSet) {
	// Registering the same variables on every flag set lets global flags
	// follow the command; the current value is the default, so a later
	// registration does not undo an earlier parse.
	fs.StringVar(&c.endpoint, "endpoint", c.endpoint, "server `URLs`, comma-separated (any node of the cluster); defaults to $"+client.EnvEndpoint+", else "+client.DefaultEndpoint)
	fs.BoolVar(&c.json, "json", c.json, "print the response as JSON")
	fs.StringVar(&c.ca, "ca", c.ca, "PEM `file` of the CA that signs the servers' certificates, for https:// endpoints; defaults to $"+client.EnvCA+", else the system's roots")
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: wharf [--endpoint URL[,URL...]] [--ca FILE] [--json] COMMAND [args]\n\ncommands:\n")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-18s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun 'wharf COMMAND -h' for a command's flags.\n")
}

// exitCode reports err on errOut and returns the exit code for it.
func (c *cli) exitCode(err error) int {
	var tw twirp.Error
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &tw):
		fmt.Fprintf(c.errOut, "wharf: %s: %s\n", tw.Code(), tw.Msg())
		c.credentialsHint(tw)
	default:
		fmt.Fprintf(c.errOut, "wharf: %v\n", err)
	}
	return 1
}

// flagError converts an error from flag parsing, which the flag package
// has already printed along with the usage.
func (c *cli) flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

// flagSet returns a flag set for command name whose usage line shows args.
func (c *cli) flagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("wharf "+name, flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wharf %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	c.globalFlags(fs)
	return fs
}

// parse is parseFlags for a command that talks to a server: it also
// loads the --ca file, known only once all flags are parsed (global flags
// may follow the command), so a bad one is reported before any request.
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if c.ca != "" && c.caPool == nil {
		if c.caPool, err = client.LoadCA(c.ca); err != nil {
			return nil, fmt.Errorf("--ca (default $%s): %w", client.EnvCA, err)
		}
	}
	return pos, nil
}

// parseFlags parses fs's flags wherever they appear in args (the flag
// package alone stops at the first positional argument) and returns the
// positional arguments. "--" ends the flags, so a body may start with "-".
func (c *cli) parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, c.flagError(err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports a command-line mistake with the command's usage.
func (c *cli) usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(c.errOut, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

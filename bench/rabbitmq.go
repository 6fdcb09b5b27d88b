package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitTarget drives a RabbitMQ cluster: a quorum queue per queue,
// publisher confirms, consumers with manual acks and a prefetch of the
// receive batch.
type RabbitTarget struct {
	urls     []string
	replicas int
	procs    []*Proc
}

// NewRabbitTarget returns a target for the nodes at urls (amqp://...).
// replicas is the quorum queues' initial group size.
func NewRabbitTarget(urls []string, replicas int, procs []*Proc) *RabbitTarget {
	return &RabbitTarget{urls: urls, replicas: replicas, procs: procs}
}

func (t *RabbitTarget) Name() string     { return "rabbitmq" }
func (t *RabbitTarget) Servers() []*Proc { return t.procs }
func (t *RabbitTarget) Close() error     { return nil }

func (t *RabbitTarget) admin(f func(ch *amqp.Channel) error) error {
	conn, err := amqp.Dial(t.urls[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	return f(ch)
}

func (t *RabbitTarget) CreateQueue(ctx context.Context, name string, fifo bool) (string, error) {
	// A quorum queue is one ordered queue; it has no message groups.
	err := t.admin(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{
			"x-queue-type":                "quorum",
			"x-quorum-initial-group-size": t.replicas,
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rabbitmq: declare queue: %w", err)
	}
	return name, nil
}

func (t *RabbitTarget) DeleteQueue(ctx context.Context, name string) error {
	return t.admin(func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
}

// NewSession opens a connection to node i (mod the number of nodes) with
// one channel in confirm mode.
func (t *RabbitTarget) NewSession(ctx context.Context, i int) (Session, error) {
	conn, err := amqp.Dial(t.urls[i%len(t.urls)])
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return nil, err
	}
	return &rabbitSession{conn: conn, ch: ch}, nil
}

type rabbitSession struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
}

// Send publishes a persistent message and waits for its publisher
// confirm, which a quorum queue sends once a majority of its replicas
// have written (and fsynced) it.
func (s *rabbitSession) Send(ctx context.Context, queue string, body []byte, group string) error {
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		ContentType:  "application/octet-stream",
		Body:         body,
	})
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("rabbitmq: publish nacked")
	}
	return nil
}

// Receive starts a consumer with a prefetch of max on the first call, then
// takes what it delivered.
func (s *rabbitSession) Receive(ctx context.Context, queue string, maxMsgs int, wait time.Duration) ([]Message, error) {
	if s.deliveries == nil {
		if err := s.ch.Qos(maxMsgs, 0, false); err != nil {
			return nil, err
		}
		d, err := s.ch.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			return nil, err
		}
		s.deliveries = d
	}
	return takeUpTo(ctx, s.deliveries, maxMsgs, wait, func(d amqp.Delivery) Message {
		return Message{Body: d.Body, handle: d.DeliveryTag}
	})
}

// Delete acks: one multiple-ack up to the last delivery tag with batch
// (the messages are the oldest unacked of the channel), else one ack per
// message. Acks are not confirmed by the broker.
func (s *rabbitSession) Delete(ctx context.Context, queue string, msgs []Message, batch bool) error {
	if len(msgs) == 0 {
		return nil
	}
	if batch {
		return s.ch.Ack(msgs[len(msgs)-1].handle.(uint64), true)
	}
	for _, m := range msgs {
		if err := s.ch.Ack(m.handle.(uint64), false); err != nil {
			return err
		}
	}
	return nil
}

func (s *rabbitSession) Close() error {
	return s.conn.Close()
}

// RabbitCluster is a RabbitMQ cluster the bench started: n nodes on
// 127.0.0.1 (node names bench1@localhost...), each with its own ports,
// data and log directories under dir, joined into one cluster.
type RabbitCluster struct {
	URLs    []string
	Procs   []*Proc
	Nodes   []string
	Version string
	// QuorumMembers is how many members a probe quorum queue had.
	QuorumMembers int
	dir           string
	env           [][]string
	ctl           string
}

// rabbitErlArgs turns off the Erlang schedulers' busy waiting: three nodes
// sharing two cores with the other systems would otherwise spin.
const rabbitErlArgs = "+sbwt none +sbwtdcpu none +sbwtdio none"

// StartRabbitCluster starts n RabbitMQ nodes and clusters them.
func StartRabbitCluster(ctx context.Context, dir string, n int) (*RabbitCluster, error) {
	server, err := lookBin("rabbitmq-server")
	if err != nil {
		return nil, err
	}
	// The wrapper in /usr/sbin switches to the rabbitmq user and logs to
	// /var/log; the script it wraps runs the node as we configure it.
	if p := "/usr/lib/rabbitmq/bin/rabbitmq-server"; fileExists(p) {
		server = p
	}
	c := &RabbitCluster{dir: dir, ctl: "/usr/lib/rabbitmq/bin/rabbitmqctl"}
	if !fileExists(c.ctl) {
		if c.ctl, err = lookBin("rabbitmqctl"); err != nil {
			return nil, err
		}
	}
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	// One Erlang cookie for every node and rabbitmqctl.
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte("WHARFBENCHCOOKIE"), 0o400); err != nil {
		return nil, err
	}
	envFile := filepath.Join(dir, "rabbitmq-env.conf")
	plugins := filepath.Join(dir, "enabled_plugins")
	if err := os.WriteFile(envFile, nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(plugins, []byte("[].\n"), 0o644); err != nil {
		return nil, err
	}
	for i := range n {
		name := fmt.Sprintf("bench%d@localhost", i+1)
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		if err := os.MkdirAll(filepath.Join(nodeDir, "log"), 0o755); err != nil {
			return nil, err
		}
		conf := filepath.Join(nodeDir, "rabbitmq.conf")
		if err := os.WriteFile(conf, []byte("loopback_users = none\ndisk_free_limit.absolute = 50MB\n"), 0o644); err != nil {
			return nil, err
		}
		env := append(os.Environ(),
			"HOME="+home,
			"RABBITMQ_NODENAME="+name,
			"RABBITMQ_USE_LONGNAME=false",
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			fmt.Sprintf("RABBITMQ_NODE_PORT=%d", ports[2*i]),
			fmt.Sprintf("RABBITMQ_DIST_PORT=%d", ports[2*i+1]),
			"RABBITMQ_CONF_ENV_FILE="+envFile,
			"RABBITMQ_CONFIG_FILE="+conf,
			"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(nodeDir, "advanced.config"),
			"RABBITMQ_ENABLED_PLUGINS_FILE="+plugins,
			"RABBITMQ_MNESIA_BASE="+filepath.Join(nodeDir, "mnesia"),
			"RABBITMQ_LOG_BASE="+filepath.Join(nodeDir, "log"),
			"RABBITMQ_PID_FILE="+filepath.Join(nodeDir, "rabbit.pid"),
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+rabbitErlArgs,
		)
		c.env = append(c.env, env)
		c.Nodes = append(c.Nodes, name)
		c.URLs = append(c.URLs, fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[2*i]))
		cmd := exec.Command(server)
		cmd.Env = env
		cmd.Dir = nodeDir
		p, err := StartProc("rabbitmq-"+name, cmd, filepath.Join(nodeDir, "console.log"))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Procs = append(c.Procs, p)
	}
	for i := range n {
		if err := c.rabbitmqctl(ctx, i, 2*time.Minute, "await_startup"); err != nil {
			c.Stop()
			return nil, err
		}
	}
	// Join nodes 2..n to node 1.
	for i := 1; i < n; i++ {
		for _, args := range [][]string{{"stop_app"}, {"join_cluster", c.Nodes[0]}, {"start_app"}} {
			if err := c.rabbitmqctl(ctx, i, 2*time.Minute, args...); err != nil {
				c.Stop()
				return nil, err
			}
		}
	}
	out, err := c.output(ctx, 0, "cluster_status")
	if err != nil {
		c.Stop()
		return nil, err
	}
	for _, name := range c.Nodes {
		if !strings.Contains(out, name) {
			c.Stop()
			return nil, fmt.Errorf("rabbitmq: %s missing from cluster_status:\n%s", name, out)
		}
	}
	if v, err := c.output(ctx, 0, "version"); err == nil {
		c.Version = strings.TrimSpace(v)
	}
	if err := c.checkQuorumMembers(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// checkQuorumMembers declares a probe quorum queue as the bench's queues
// are declared and checks with rabbitmq-queues quorum_status that it has a
// member on every node.
func (c *RabbitCluster) checkQuorumMembers(ctx context.Context) error {
	const probe = "bench-probe"
	t := NewRabbitTarget(c.URLs, len(c.Nodes), nil)
	if _, err := t.CreateQueue(ctx, probe, false); err != nil {
		return err
	}
	defer t.DeleteQueue(ctx, probe)
	queues := filepath.Join(filepath.Dir(c.ctl), "rabbitmq-queues")
	cmd := exec.CommandContext(ctx, queues, "-n", c.Nodes[0], "quorum_status", probe)
	cmd.Env, cmd.Dir = c.env[0], c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmq-queues quorum_status: %v\n%s", err, out)
	}
	members := 0
	for _, name := range c.Nodes {
		if strings.Contains(string(out), name) {
			members++
		}
	}
	if members != len(c.Nodes) {
		return fmt.Errorf("rabbitmq: a quorum queue has %d members, want %d:\n%s", members, len(c.Nodes), out)
	}
	c.QuorumMembers = members
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (c *RabbitCluster) output(ctx context.Context, i int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.ctl, append([]string{"-n", c.Nodes[i]}, args...)...)
	cmd.Env = c.env[i]
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl -n %s %s: %v\n%s", c.Nodes[i], strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// rabbitmqctl runs rabbitmqctl against node i, retrying until limit.
func (c *RabbitCluster) rabbitmqctl(ctx context.Context, i int, limit time.Duration, args ...string) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := c.output(ctx, i, args...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || c.Procs[i].Exited() {
			return fmt.Errorf("%w (log: %s)", err, c.Procs[i].Log)
		}
		time.Sleep(time.Second)
	}
}

// Stop terminates every node.
func (c *RabbitCluster) Stop() {
	for _, p := range c.Procs {
		p.Stop(30 * time.Second)
	}
}

// Describe says what the cluster runs, for the report.
func (c *RabbitCluster) Describe() string {
	return fmt.Sprintf("RabbitMQ %s, %d nodes, quorum queues (initial group size %d; a probe queue had %d members), persistent messages, publisher confirms, manual acks, consumer prefetch = receive batch; Erlang %s",
		c.Version, len(c.Procs), len(c.Procs), c.QuorumMembers, rabbitErlArgs)
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSTarget drives a NATS JetStream cluster: a stream per queue (3
// replicas, file storage, WorkQueue retention) with one durable pull
// consumer (explicit ack).
type NATSTarget struct {
	urls     []string
	replicas int
	nc       *nats.Conn
	js       jetstream.JetStream
	procs    []*Proc
}

// NewNATSTarget connects to the cluster at urls (nats://host:port).
func NewNATSTarget(ctx context.Context, urls []string, replicas int, procs []*Proc) (*NATSTarget, error) {
	nc, js, err := natsConnect(urls)
	if err != nil {
		return nil, err
	}
	return &NATSTarget{urls: urls, replicas: replicas, nc: nc, js: js, procs: procs}, nil
}

// natsConnect connects to the servers at urls, tried in the order given
// when opts ask for it, and opens JetStream on the connection.
func natsConnect(urls []string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return nc, js, nil
}

func (t *NATSTarget) Name() string     { return "nats" }
func (t *NATSTarget) Servers() []*Proc { return t.procs }
func (t *NATSTarget) Close() error {
	t.nc.Close()
	return nil
}

const natsConsumer = "bench"

func (t *NATSTarget) CreateQueue(ctx context.Context, name string, fifo bool) (string, error) {
	// JetStream has no message groups: a stream is one ordered log. The
	// fifo workload puts the group in the subject only.
	cfg := jetstream.StreamConfig{
		Name:      name,
		Subjects:  []string{"bench." + name + ".>"},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
		Replicas:  t.replicas,
	}
	// Right after the cluster starts, the meta leader may not be elected.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if _, err = t.js.CreateStream(ctx, cfg); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("nats: create stream: %w", err)
	}
	_, err = t.js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable:       natsConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 20000,
	})
	if err != nil {
		return "", fmt.Errorf("nats: create consumer: %w", err)
	}
	return name, nil
}

func (t *NATSTarget) DeleteQueue(ctx context.Context, name string) error {
	return t.js.DeleteStream(ctx, name)
}

// NewSession opens a connection of its own to server i (mod the number of
// servers), falling back to the others.
func (t *NATSTarget) NewSession(ctx context.Context, i int) (Session, error) {
	n := len(t.urls)
	rotated := append(append([]string{}, t.urls[i%n:]...), t.urls[:i%n]...)
	nc, js, err := natsConnect(rotated, nats.DontRandomize())
	if err != nil {
		return nil, err
	}
	return &natsSession{nc: nc, js: js}, nil
}

type natsSession struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	cc   jetstream.ConsumeContext
	msgs chan jetstream.Msg
	seq  int
}

// Send publishes and waits for the PubAck, which the stream leader sends
// once a quorum of replicas has stored the message.
func (s *natsSession) Send(ctx context.Context, queue string, body []byte, group string) error {
	subj := "bench." + queue + ".m"
	if group != "" {
		subj = "bench." + queue + "." + group
	}
	_, err := s.js.Publish(ctx, subj, body)
	return err
}

// Receive pulls from the stream's durable consumer with the idiomatic
// continuous pull (Consume, at most max messages per pull request): the
// first call starts it, later ones take what it delivered.
func (s *natsSession) Receive(ctx context.Context, queue string, maxMsgs int, wait time.Duration) ([]Message, error) {
	if s.cc == nil {
		cons, err := s.js.Consumer(ctx, queue, natsConsumer)
		if err != nil {
			return nil, err
		}
		s.msgs = make(chan jetstream.Msg, maxMsgs)
		s.cc, err = cons.Consume(func(m jetstream.Msg) { s.msgs <- m }, jetstream.PullMaxMessages(maxMsgs))
		if err != nil {
			return nil, err
		}
	}
	return takeUpTo(ctx, s.msgs, maxMsgs, wait, func(m jetstream.Msg) Message {
		return Message{Body: m.Data(), handle: m}
	})
}

// takeUpTo waits up to wait for one value from ch, then takes up to max in
// all without waiting.
func takeUpTo[T any](ctx context.Context, ch <-chan T, maxN int, wait time.Duration, conv func(T) Message) ([]Message, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var out []Message
	select {
	case v := <-ch:
		out = append(out, conv(v))
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for len(out) < maxN {
		select {
		case v := <-ch:
			out = append(out, conv(v))
		default:
			return out, nil
		}
	}
	return out, nil
}

// Delete acks each message (explicit ack; JetStream acks one message at a
// time, so batch changes nothing). Acks are not confirmed by the server,
// as with RabbitMQ.
func (s *natsSession) Delete(ctx context.Context, queue string, msgs []Message, batch bool) error {
	for _, m := range msgs {
		if err := m.handle.(jetstream.Msg).Ack(); err != nil {
			return err
		}
	}
	return nil
}

func (s *natsSession) Close() error {
	if s.cc != nil {
		s.cc.Stop()
	}
	s.nc.Close()
	return nil
}

// NATSCluster is a NATS cluster the bench started: nats-server processes
// on 127.0.0.1 with JetStream in a temporary directory.
type NATSCluster struct {
	URLs    []string
	Procs   []*Proc
	Version string
	// SyncAlways says whether the servers run with sync_interval: always
	// (fsync of every write before it is acknowledged); servers older
	// than 2.10 do not know the option.
	SyncAlways bool
}

var versionRE = regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`)

// NATSVersion returns the version of the nats-server binary bin.
func NATSVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", bin, err, out)
	}
	m := versionRE.FindString(string(out))
	if m == "" {
		return "", fmt.Errorf("no version in %q", out)
	}
	return strings.TrimPrefix(m, "v"), nil
}

// StartNATSCluster starts n nats-server processes (binary bin) clustered on
// 127.0.0.1, with JetStream storage under dir, and waits until JetStream
// answers. It asks for sync_interval: always, and leaves it out (with
// SyncAlways false) when the server rejects the option.
func StartNATSCluster(ctx context.Context, bin, dir string, n int) (*NATSCluster, error) {
	version, err := NATSVersion(bin)
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &NATSCluster{Version: version}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[2*i+1]))
	}
	conf := func(i int, sync bool) string {
		syncLine := ""
		if sync {
			syncLine = "  sync_interval: always\n"
		}
		cluster := ""
		if n > 1 { // a cluster of one would wait for a JetStream meta group forever
			cluster = fmt.Sprintf("cluster {\n  name: bench\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", ports[2*i+1], strings.Join(routes, ", "))
		}
		return fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
%s}
%s`, i+1, ports[2*i], filepath.Join(dir, fmt.Sprintf("n%d", i+1)), syncLine, cluster)
	}
	// Does this server know sync_interval? -t checks a configuration.
	probe := filepath.Join(dir, "probe.conf")
	if err := os.WriteFile(probe, []byte(conf(0, true)), 0o644); err != nil {
		return nil, err
	}
	c.SyncAlways = exec.Command(bin, "-c", probe, "-t").Run() == nil
	for i := range n {
		path := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(path, []byte(conf(i, c.SyncAlways)), 0o644); err != nil {
			return nil, err
		}
		p, err := StartProc(fmt.Sprintf("nats-%d", i+1), exec.Command(bin, "-c", path), filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Procs = append(c.Procs, p)
		c.URLs = append(c.URLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[2*i]))
	}
	for i := range n {
		if err := waitTCP(strings.TrimPrefix(c.URLs[i], "nats://"), 30*time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	// JetStream answers once the meta group has a leader.
	nc, err := nats.Connect(strings.Join(c.URLs, ","))
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := js.AccountInfo(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("nats: JetStream not ready: %w", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return c, nil
}

// Stop terminates every server.
func (c *NATSCluster) Stop() {
	for _, p := range c.Procs {
		p.Stop(10 * time.Second)
	}
}

// Describe says what the cluster runs, for the report.
func (c *NATSCluster) Describe() string {
	sync := "sync_interval: always (fsync before ack)"
	if !c.SyncAlways {
		sync = "sync_interval not supported by this version (option added in 2.10): default periodic fsync, so an acknowledged message may be only in the page cache of the replicas"
	}
	return "nats-server " + c.Version + ", " + strconv.Itoa(len(c.Procs)) + " servers, stream replicas 3, file storage, WorkQueue retention, durable pull consumer with explicit ack; " + sync
}

var errNoBinary = errors.New("not installed (run make bench-peers)")

// lookBin finds name on $PATH or in the usual sbin directories.
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/lib/rabbitmq/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, errNoBinary)
}

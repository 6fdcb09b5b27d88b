package bench

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// FillConfig is a backlog to build: Bytes of message bodies, Size bytes
// each, sent to Queue by Inflight senders.
type FillConfig struct {
	Endpoints []string
	Queue     string
	Bytes     int64
	Size      int
	Inflight  int
	Seed      uint64
	// CA, if not nil, signs https endpoints' certificates.
	CA *x509.CertPool
}

// maxFillBytes bounds one fill (1 TiB): a typo should not fill a disk for
// days.
const maxFillBytes = 1 << 40

// Fill sends random text bodies to an existing queue until Bytes of bodies
// are acknowledged, and returns how many messages and bytes were sent. The
// bodies are base64 of a seeded random stream: Wharf bodies are text, and
// this is as close to incompressible as text gets (6 bits per byte), so
// the store cannot shrink a backlog by compressing it.
func Fill(ctx context.Context, c FillConfig, progress func(msgs, bytes int64)) (msgs, bytes int64, err error) {
	switch {
	case len(c.Endpoints) == 0:
		return 0, 0, errors.New("fill: no endpoints")
	case c.Queue == "":
		return 0, 0, errors.New("fill: no queue")
	case c.Bytes <= 0 || c.Bytes > maxFillBytes:
		return 0, 0, fmt.Errorf("fill: bytes must be 1 to %d", int64(maxFillBytes))
	case c.Size < 1:
		return 0, 0, errors.New("fill: size must be at least 1")
	case c.Inflight < 1 || c.Inflight > 1024:
		return 0, 0, errors.New("fill: inflight must be 1 to 1024")
	}
	svc := client.New(c.Endpoints, client.WithCA(c.CA), client.WithEnvCredentials())
	total := (c.Bytes + int64(c.Size) - 1) / int64(c.Size)
	var next, sentMsgs, sentBytes atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for w := range c.Inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.Seed, uint64(w)))
			raw := make([]byte, base64.StdEncoding.DecodedLen(c.Size)+3)
			for {
				i := next.Add(1)
				if i > total || ctx.Err() != nil {
					return
				}
				for j := range raw {
					raw[j] = byte(rng.Uint32())
				}
				body := base64.StdEncoding.EncodeToString(raw)[:c.Size]
				if _, err := svc.SendMessage(ctx, &wharfv1.SendMessageRequest{Queue: c.Queue, Body: body}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("fill: send %d: %w", i, err); cancel() })
					return
				}
				sentMsgs.Add(1)
				sentBytes.Add(int64(len(body)))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return sentMsgs.Load(), sentBytes.Load(), firstErr
		case <-t.C:
			if progress != nil {
				progress(sentMsgs.Load(), sentBytes.Load())
			}
		}
	}
}

// fillMain is "wharf-bench fill".
func fillMain(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name+" fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoints := fs.String("endpoints", "", "Wharf API endpoints (comma-separated) of a running cluster")
	queue := fs.String("queue", "", "existing queue to fill")
	gib := fs.Float64("gib", 1, "GiB of message bodies to send")
	size := fs.Int("size", 262144, "message body bytes")
	inflight := fs.Int("inflight", 8, "messages in flight")
	seed := fs.Uint64("seed", 1, "seed of the random bodies")
	caFile := fs.String("ca", os.Getenv(client.EnvCA), "PEM file of the CA that signs the endpoints' certificates (https://); default $"+client.EnvCA)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s fill --endpoints URLS --queue NAME [--gib N] [--size B]\n\nSends random text bodies to a queue until N GiB are acknowledged: a backlog.\n\nflags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s fill: unexpected arguments %q\n", name, fs.Args())
		return ErrUsage
	}
	var ca *x509.CertPool
	if *caFile != "" {
		var err error
		if ca, err = client.LoadCA(*caFile); err != nil {
			return fmt.Errorf("fill: --ca: %w", err)
		}
	}
	start := time.Now()
	msgs, bytes, err := Fill(ctx, FillConfig{
		Endpoints: splitList(*endpoints), Queue: *queue, Bytes: int64(*gib * (1 << 30)),
		Size: *size, Inflight: *inflight, Seed: *seed, CA: ca,
	}, func(m, b int64) {
		fmt.Fprintf(stderr, "%s: %d messages, %.2f GiB, %s\n", name, m, float64(b)/(1<<30), time.Since(start).Round(time.Second))
	})
	el := time.Since(start)
	fmt.Fprintf(stdout, "filled %s: %d messages, %d bytes of bodies (%.2f GiB) in %s: %.1f MiB/s\n",
		*queue, msgs, bytes, float64(bytes)/(1<<30), el.Round(time.Millisecond), float64(bytes)/(1<<20)/el.Seconds())
	return err
}

// Command wharf-bench is Wharf's load generator: it runs workloads
// against a Wharf cluster (its own, or --endpoints) and side by side
// against NATS JetStream and RabbitMQ. See bench/README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharfmq/wharf/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, "wharf-bench", os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

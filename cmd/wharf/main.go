// Command wharf is the command-line client for a Wharf server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{
		in:       os.Stdin,
		out:      os.Stdout,
		errOut:   os.Stderr,
		endpoint: client.EndpointFromEnv(),
		dial: func(endpoints []string) wharfv1.QueueService {
			return client.New(endpoints, client.WithEnvCredentials())
		},
		dialCluster: func(endpoints []string) wharfv1.ClusterService {
			return client.NewCluster(endpoints, client.WithEnvCredentials())
		},
		dialAdmin: func(endpoints []string) wharfv1.AdminService {
			return client.NewAdmin(endpoints, client.WithEnvCredentials())
		},
	}
	code := c.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

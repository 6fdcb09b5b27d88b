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
		ca:       os.Getenv(client.EnvCA),
	}
	// c.caPool is loaded by the time a command dials (cli.parse).
	c.dial = func(endpoints []string) wharfv1.QueueService {
		return client.New(endpoints, client.WithCA(c.caPool), client.WithEnvCredentials())
	}
	c.dialCluster = func(endpoints []string) wharfv1.ClusterService {
		return client.NewCluster(endpoints, client.WithCA(c.caPool), client.WithEnvCredentials())
	}
	c.dialAdmin = func(endpoints []string) wharfv1.AdminService {
		return client.NewAdmin(endpoints, client.WithCA(c.caPool), client.WithEnvCredentials())
	}
	code := c.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

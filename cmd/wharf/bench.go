package main

import (
	"context"
	"errors"

	"github.com/wharfmq/wharf/bench"
)

// bench runs the load generator (bench/): the same flags as wharf-bench.
func (c *cli) bench(ctx context.Context, args []string) error {
	err := bench.Command(ctx, "wharf bench", args, c.out, c.errOut)
	if errors.Is(err, bench.ErrUsage) {
		return errUsage
	}
	return err
}

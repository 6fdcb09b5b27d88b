package main

import (
	"context"
	"fmt"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func (c *cli) queueCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("queue create", "NAME [flags]")
	fifo := fs.Bool("fifo", false, "create a FIFO queue (its name must end in .fifo)")
	var partitions int32
	int32Var(fs, &partitions, "partitions", 0, "spread the queue over `n` partitions, 1-64, fixed at creation (server default 1)")
	var a queueAttrs
	a.register(fs)
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usageError(fs, "want one queue NAME, got %d arguments", len(pos))
	}
	set := setFlags(fs)
	v, err := a.values(set, false)
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	req := &wharfv1.CreateQueueRequest{
		Name:                      pos[0],
		Fifo:                      *fifo,
		ContentBasedDeduplication: a.contentDedup,
		VisibilityTimeoutSeconds:  v.visibility,
		MessageRetentionSeconds:   v.retention,
		DelaySeconds:              v.delay,
		ReceiveWaitTimeSeconds:    v.wait,
		MaximumMessageBytes:       v.maxBytes,
		RedrivePolicy:             v.redrive,
	}
	if set["partitions"] {
		req.Partitions = &partitions
	}
	resp, err := c.service().CreateQueue(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printQueue(c.out, resp.GetQueue())
}

func (c *cli) queueUpdate(ctx context.Context, args []string) error {
	fs := c.flagSet("queue update", "NAME [flags]")
	var a queueAttrs
	a.register(fs)
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usageError(fs, "want one queue NAME, got %d arguments", len(pos))
	}
	set := setFlags(fs)
	v, err := a.values(set, true)
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	req := &wharfv1.UpdateQueueRequest{
		Queue:                    pos[0],
		VisibilityTimeoutSeconds: v.visibility,
		MessageRetentionSeconds:  v.retention,
		DelaySeconds:             v.delay,
		ReceiveWaitTimeSeconds:   v.wait,
		MaximumMessageBytes:      v.maxBytes,
		RedrivePolicy:            v.redrive,
	}
	if set["content-based-dedup"] {
		req.ContentBasedDeduplication = &a.contentDedup
	}
	if req.ContentBasedDeduplication == nil && v == (attrValues{}) {
		return c.usageError(fs, "nothing to update: give at least one attribute flag")
	}
	resp, err := c.service().UpdateQueue(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printQueue(c.out, resp.GetQueue())
}

func (c *cli) queueGet(ctx context.Context, args []string) error {
	name, err := c.oneName("queue get", args)
	if err != nil {
		return err
	}
	resp, err := c.service().GetQueue(ctx, &wharfv1.GetQueueRequest{Queue: name})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printQueue(c.out, resp.GetQueue())
}

func (c *cli) queueDelete(ctx context.Context, args []string) error {
	name, err := c.oneName("queue delete", args)
	if err != nil {
		return err
	}
	resp, err := c.service().DeleteQueue(ctx, &wharfv1.DeleteQueueRequest{Queue: name})
	if err != nil {
		return err
	}
	return c.printEmpty(resp)
}

func (c *cli) queuePurge(ctx context.Context, args []string) error {
	name, err := c.oneName("queue purge", args)
	if err != nil {
		return err
	}
	resp, err := c.service().PurgeQueue(ctx, &wharfv1.PurgeQueueRequest{Queue: name})
	if err != nil {
		return err
	}
	return c.printEmpty(resp)
}

// oneName parses the arguments of a command that takes only a queue NAME.
func (c *cli) oneName(cmd string, args []string) (string, error) {
	fs := c.flagSet(cmd, "NAME")
	pos, err := c.parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", c.usageError(fs, "want one queue NAME, got %d arguments", len(pos))
	}
	return pos[0], nil
}

func (c *cli) queueList(ctx context.Context, args []string) error {
	fs := c.flagSet("queue list", "[--prefix P]")
	prefix := fs.String("prefix", "", "only queues whose names start with `P`")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return c.usageError(fs, "unexpected arguments %q", pos)
	}

	// Follow next_token to the end. Names are printed page by page so a
	// long listing starts at once; --json needs them all first.
	all := &wharfv1.ListQueuesResponse{}
	seen := map[string]bool{}
	token := ""
	for {
		resp, err := c.service().ListQueues(ctx, &wharfv1.ListQueuesRequest{Prefix: *prefix, NextToken: token})
		if err != nil {
			return err
		}
		if c.json {
			all.Queues = append(all.Queues, resp.GetQueues()...)
		} else {
			for _, q := range resp.GetQueues() {
				if _, err := fmt.Fprintln(c.out, q); err != nil {
					return err
				}
			}
		}
		token = resp.GetNextToken()
		if token == "" {
			break
		}
		if seen[token] { // a server bug must not make us loop forever
			return fmt.Errorf("server returned next_token %q twice; stopping", token)
		}
		seen[token] = true
	}
	if c.json {
		return c.printJSON(all)
	}
	return nil
}

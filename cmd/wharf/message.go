package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func (c *cli) send(ctx context.Context, args []string) error {
	fs := c.flagSet("send", "QUEUE [BODY|-] [flags]\n\nWithout BODY, or with -, the body is read from stdin, verbatim.\nUse -- before a BODY that starts with -.")
	var delay int32
	int32Var(fs, &delay, "delay", 0, "delivery delay in `seconds` (default: the queue's)")
	group := fs.String("group", "", "FIFO: message group `id`")
	dedup := fs.String("dedup-id", "", "FIFO: deduplication `id`")
	attrs := attrList{}
	fs.Var(attrs, "attr", "message attribute `NAME=TYPE:VALUE`; TYPE is String, Number or Binary (VALUE in base64); repeatable")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	var body string
	switch {
	case len(pos) == 0:
		return c.usageError(fs, "want a QUEUE")
	case len(pos) > 2:
		return c.usageError(fs, "too many arguments: quote the BODY")
	case len(pos) == 1 || pos[1] == "-":
		if body, err = c.readBody(); err != nil {
			return err
		}
	default:
		body = pos[1]
	}
	if !utf8.ValidString(body) {
		return errors.New("the body is not valid UTF-8: message bodies are text (base64-encode binary data)")
	}

	req := &wharfv1.SendMessageRequest{
		Queue:                  pos[0],
		Body:                   body,
		MessageGroupId:         *group,
		MessageDeduplicationId: *dedup,
	}
	if len(attrs) > 0 {
		req.Attributes = attrs
	}
	if setFlags(fs)["delay"] {
		req.DelaySeconds = &delay
	}
	resp, err := c.service().SendMessage(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	line := fmt.Sprintf("message_id=%s md5=%s", resp.GetMessageId(), resp.GetMd5OfBody())
	if seq := resp.GetSequenceNumber(); seq != "" {
		line += " sequence=" + seq
	}
	_, err = fmt.Fprintln(c.out, line)
	return err
}

// readBody reads a message body from stdin. It stops just past the largest
// body any queue accepts, so a runaway pipe fails fast.
func (c *cli) readBody() (string, error) {
	b, err := io.ReadAll(io.LimitReader(c.in, core.MaxMaximumMessageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read body from stdin: %w", err)
	}
	if len(b) > core.MaxMaximumMessageBytes {
		return "", fmt.Errorf("body on stdin exceeds %d bytes, the largest a queue accepts", core.MaxMaximumMessageBytes)
	}
	return string(b), nil
}

func (c *cli) receive(ctx context.Context, args []string) error {
	fs := c.flagSet("receive", "QUEUE [flags]")
	var max, wait, visibility int32
	int32Var(fs, &max, "max", 1, "most messages to receive, 1-10")
	int32Var(fs, &wait, "wait", 0, "long-poll up to `seconds`, 0-20 (default: the queue's)")
	int32Var(fs, &visibility, "visibility", 0, "visibility timeout in `seconds` for these messages (default: the queue's)")
	attempt := fs.String("attempt-id", "", "FIFO: receive request attempt `id`; a retry with it returns the same messages")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usageError(fs, "want one QUEUE, got %d arguments", len(pos))
	}
	req := &wharfv1.ReceiveMessageRequest{
		Queue:                   pos[0],
		MaxMessages:             max,
		ReceiveRequestAttemptId: *attempt,
	}
	set := setFlags(fs)
	if set["wait"] {
		req.WaitTimeSeconds = &wait
	}
	if set["visibility"] {
		req.VisibilityTimeoutSeconds = &visibility
	}
	resp, err := c.service().ReceiveMessage(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	if len(resp.GetMessages()) == 0 {
		// On stderr: stdout stays empty for scripts.
		fmt.Fprintln(c.errOut, "no messages")
		return nil
	}
	return printMessages(c.out, resp.GetMessages())
}

func (c *cli) deleteMessage(ctx context.Context, args []string) error {
	fs := c.flagSet("delete", "QUEUE RECEIPT_HANDLE")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return c.usageError(fs, "want QUEUE and RECEIPT_HANDLE, got %d arguments", len(pos))
	}
	resp, err := c.service().DeleteMessage(ctx, &wharfv1.DeleteMessageRequest{Queue: pos[0], ReceiptHandle: pos[1]})
	if err != nil {
		return err
	}
	return c.printEmpty(resp)
}

func (c *cli) changeVisibility(ctx context.Context, args []string) error {
	fs := c.flagSet("change-visibility", "QUEUE RECEIPT_HANDLE SECONDS")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return c.usageError(fs, "want QUEUE, RECEIPT_HANDLE and SECONDS, got %d arguments", len(pos))
	}
	seconds, err := strconv.ParseInt(pos[2], 10, 32)
	if err != nil {
		return c.usageError(fs, "SECONDS %q is not a 32-bit integer", pos[2])
	}
	resp, err := c.service().ChangeMessageVisibility(ctx, &wharfv1.ChangeMessageVisibilityRequest{
		Queue:                    pos[0],
		ReceiptHandle:            pos[1],
		VisibilityTimeoutSeconds: int32(seconds),
	})
	if err != nil {
		return err
	}
	return c.printEmpty(resp)
}

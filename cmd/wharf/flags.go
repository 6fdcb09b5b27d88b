package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// int32Flag is a flag.Value for the API's int32 fields, so out-of-range
// numbers are rejected while parsing rather than truncated.
type int32Flag struct{ p *int32 }

func int32Var(fs *flag.FlagSet, p *int32, name string, value int32, usage string) {
	*p = value
	fs.Var(int32Flag{p}, name, usage)
}

func (f int32Flag) String() string {
	if f.p == nil { // flag.PrintDefaults probes a zero value
		return "0"
	}
	return strconv.Itoa(int(*f.p))
}

func (f int32Flag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return errors.New("not a 32-bit integer")
	}
	*f.p = int32(v)
	return nil
}

// queueAttrs are the attribute flags shared by queue create and update.
type queueAttrs struct {
	contentDedup bool
	visibility   int32
	retention    int32
	delay        int32
	wait         int32
	maxBytes     int32
	dlq          string
	maxReceives  int32
}

func (a *queueAttrs) register(fs *flag.FlagSet) {
	// No defaults here: an attribute not given is not sent, and the
	// server applies the SQS default (create) or keeps the value (update).
	fs.BoolVar(&a.contentDedup, "content-based-dedup", false, "FIFO: deduplicate by a hash of the body when a message has no dedup id")
	int32Var(fs, &a.visibility, "visibility", 0, "visibility timeout in `seconds` (server default 30)")
	int32Var(fs, &a.retention, "retention", 0, "message retention in `seconds` (server default 345600, 4 days)")
	int32Var(fs, &a.delay, "delay", 0, "delivery delay in `seconds` (server default 0)")
	int32Var(fs, &a.wait, "wait", 0, "receive long-poll wait in `seconds` (server default 0)")
	int32Var(fs, &a.maxBytes, "max-bytes", 0, "largest message body in `bytes` (server default 262144)")
	fs.StringVar(&a.dlq, "dlq", "", "dead-letter queue `name` (with --max-receives; on update, \"\" removes the policy)")
	int32Var(fs, &a.maxReceives, "max-receives", 0, "move a message to the dead-letter queue after `n` receives")
}

// attrValues are the attributes given on the command line; nil means not
// given.
type attrValues struct {
	visibility, retention, delay, wait, maxBytes *int32
	redrive                                      *wharfv1.RedrivePolicy
}

// values returns the attributes named in set (the flags given). For an
// update, --dlq "" removes the redrive policy.
func (a *queueAttrs) values(set map[string]bool, update bool) (attrValues, error) {
	var v attrValues
	pick := func(name string, p *int32) *int32 {
		if set[name] {
			return p
		}
		return nil
	}
	v.visibility = pick("visibility", &a.visibility)
	v.retention = pick("retention", &a.retention)
	v.delay = pick("delay", &a.delay)
	v.wait = pick("wait", &a.wait)
	v.maxBytes = pick("max-bytes", &a.maxBytes)

	switch {
	case set["max-receives"] && !set["dlq"]:
		// The API replaces the policy as a whole.
		return v, errors.New("--max-receives needs --dlq")
	case !set["dlq"]:
	case a.dlq == "" && !update:
		return v, errors.New("--dlq needs a queue name")
	case a.dlq == "":
		if set["max-receives"] {
			return v, errors.New(`--dlq "" removes the redrive policy; drop --max-receives`)
		}
		v.redrive = &wharfv1.RedrivePolicy{}
	case !set["max-receives"]:
		return v, errors.New("--dlq needs --max-receives")
	default:
		v.redrive = &wharfv1.RedrivePolicy{DeadLetterQueue: a.dlq, MaxReceiveCount: a.maxReceives}
	}
	return v, nil
}

// attrList collects repeated --attr NAME=TYPE:VALUE flags.
type attrList map[string]*wharfv1.MessageAttributeValue

func (l attrList) String() string { return "" }

func (l attrList) Set(s string) error {
	name, typed, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want NAME=TYPE:VALUE")
	}
	dataType, value, ok := strings.Cut(typed, ":")
	if !ok {
		return errors.New("want NAME=TYPE:VALUE")
	}
	if _, dup := l[name]; dup {
		return fmt.Errorf("attribute %q given twice", name)
	}
	// A type may carry a custom label, as in SQS: "Number.float".
	base, _, _ := strings.Cut(dataType, ".")
	v := &wharfv1.MessageAttributeValue{DataType: dataType}
	switch base {
	case "String", "Number":
		v.StringValue = value
	case "Binary":
		b, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return fmt.Errorf("binary attribute %q: value is not base64: %v", name, err)
		}
		v.BinaryValue = b
	default:
		return fmt.Errorf("attribute %q: type must be String, Number or Binary, not %q", name, dataType)
	}
	l[name] = v
	return nil
}

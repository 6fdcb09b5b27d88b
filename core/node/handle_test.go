package node

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/wharfmq/wharf/core"
)

func TestHandleRoundTrip(t *testing.T) {
	for _, h := range []handle{
		{queueID: 1, partitionID: 2, seq: 3, receiveCount: 1, tag: 42},
		{queueID: 1 << 62, partitionID: 1 << 63, seq: 1<<64 - 1, receiveCount: 1<<31 - 1, tag: 1<<64 - 1},
	} {
		s := encodeHandle(h)
		got, err := decodeHandle("receipt_handle", s, h.queueID)
		if err != nil || got != h {
			t.Fatalf("decode(encode(%v)) = %v, %v", h, got, err)
		}
		if len(s) > maxHandleLen {
			t.Fatalf("handle %q longer than %d", s, maxHandleLen)
		}
	}
}

func TestHandleRejects(t *testing.T) {
	good := handle{queueID: 7, partitionID: 8, seq: 9, receiveCount: 2}
	// raw encodes uvarints followed by a tag, as a handle does.
	raw := func(vs ...uint64) string {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(b, 5))
	}
	noTag := func(vs ...uint64) string {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"other queue":    encodeHandle(handle{queueID: 6, partitionID: 8, seq: 9, receiveCount: 2}),
		"not base64":     "***",
		"padded":         encodeHandle(good) + "==",
		"short":          raw(2, 7, 8, 9),
		"trailing":       raw(2, 7, 8, 9, 2, 0),
		"version":        raw(1, 7, 8, 9, 2),
		"zero seq":       raw(2, 7, 8, 0, 2),
		"zero count":     raw(2, 7, 8, 9, 0),
		"huge count":     raw(2, 7, 8, 9, 1<<40),
		"too long":       string(bytes.Repeat([]byte("A"), 200)),
		"empty":          "",
		"std base64":     base64.StdEncoding.EncodeToString([]byte{1, 7, 8, 9, 2, 0xfb}),
		"zero partition": raw(2, 7, 0, 9, 2),
		"no tag":         noTag(2, 7, 8, 9, 2),
	}
	for name, s := range cases {
		_, err := decodeHandle("entries[3].receipt_handle", s, 7)
		var e *core.Error
		if !errors.As(err, &e) || e.Code != core.InvalidArgument || e.Field != "entries[3].receipt_handle" {
			t.Errorf("%s: %q decoded with error %v", name, s, err)
		}
	}
}

func TestUUID(t *testing.T) {
	src := idSource{r: bytes.NewReader(bytes.Repeat([]byte{0xff}, 32))}
	id, err := src.uuid()
	if err != nil {
		t.Fatal(err)
	}
	if id != "ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Fatalf("uuid = %s", id)
	}
	if _, err := src.uuid(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.uuid(); err == nil {
		t.Fatal("uuid from an exhausted source succeeded")
	}
}

func TestPageToken(t *testing.T) {
	tok := encodePageToken("queue-1.fifo")
	if got, err := decodePageToken(tok); err != nil || got != "queue-1.fifo" {
		t.Fatalf("decode = %q %v", got, err)
	}
	if got, err := decodePageToken(""); err != nil || got != "" {
		t.Fatalf("empty token = %q %v", got, err)
	}
	for _, bad := range []string{"!", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("a"), 81))} {
		if _, err := decodePageToken(bad); core.CodeOf(err) != core.InvalidArgument {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
}

func TestWholeFailure(t *testing.T) {
	boom := core.Errorf(core.Unavailable, "boom")
	if err := wholeFailure([]entryResult{{err: boom, whole: true}, {err: boom, whole: true}}); err != boom {
		t.Fatalf("all whole = %v", err)
	}
	if err := wholeFailure([]entryResult{{err: boom, whole: true}, {err: core.FieldError("x", "bad")}}); err != nil {
		t.Fatalf("mixed = %v", err)
	}
	if err := wholeFailure([]entryResult{{err: boom, whole: true}, {}}); err != nil {
		t.Fatalf("one success = %v", err)
	}
}

func TestGroupPartitionIsStable(t *testing.T) {
	// Where a group's messages live must never change between versions.
	if got := groupPartition("orders", 7); got != groupPartition("orders", 7) {
		t.Fatal("unstable")
	}
	seen := map[int]bool{}
	for _, g := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[groupPartition(g, 4)] = true
	}
	if len(seen) < 2 {
		t.Fatalf("groups all hash to %v", seen)
	}
}

func TestWakeRegistry(t *testing.T) {
	r := newWakeRegistry()
	c1 := r.watch(5)
	c2 := r.watch(5)
	other := r.watch(6)
	r.wake([]uint64{5, 5, 9})
	for _, c := range []<-chan struct{}{c1, c2} {
		select {
		case <-c:
		default:
			t.Fatal("waiter not woken")
		}
	}
	select {
	case <-other:
		t.Fatal("other partition woken")
	default:
	}
	select {
	case <-r.watch(5):
		t.Fatal("new watch already closed")
	default:
	}
}

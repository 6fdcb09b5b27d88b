package node

import (
	"errors"
	"testing"

	"github.com/wharfmq/wharf/core"
)

// FuzzDecodeHandle feeds receipt handles, which clients send back as they
// please, to the decoder: it must refuse what is not a handle for the
// queue with an InvalidArgument naming the field, never panic, and what it
// accepts must be a handle the node could have made (its own encoding
// decodes to the same lease).
func FuzzDecodeHandle(f *testing.F) {
	for _, h := range []handle{
		{queueID: 7, partitionID: 8, seq: 9, receiveCount: 2, tag: 42},
		{queueID: 7, partitionID: 1 << 63, seq: 1<<64 - 1, receiveCount: 1<<31 - 1, tag: 1<<64 - 1},
	} {
		f.Add(encodeHandle(h))
	}
	f.Add(encodeHandle(handle{queueID: 6, partitionID: 8, seq: 9, receiveCount: 2}))
	f.Add("")
	f.Add("***")
	f.Add("AgcICQIAAAAAAAAABQ==")
	f.Fuzz(func(t *testing.T, s string) {
		const field = "entries[0].receipt_handle"
		h, err := decodeHandle(field, s, 7)
		id, idOK := handleQueueID(s)
		if err != nil {
			var e *core.Error
			if !errors.As(err, &e) || e.Code != core.InvalidArgument || e.Field != field {
				t.Fatalf("%q refused with %v, want an InvalidArgument naming %s", s, err, field)
			}
			return
		}
		if h.queueID != 7 || h.partitionID == 0 || h.seq == 0 || h.receiveCount < 1 {
			t.Fatalf("%q accepted as %+v", s, h)
		}
		if !idOK || id != 7 {
			t.Fatalf("%q decodes, yet handleQueueID says %d, %v", s, id, idOK)
		}
		again, err := decodeHandle(field, encodeHandle(h), 7)
		if err != nil || again != h {
			t.Fatalf("%q decodes to %+v, whose encoding decodes to %+v, %v", s, h, again, err)
		}
	})
}

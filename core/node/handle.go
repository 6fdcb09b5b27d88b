package node

import (
	"encoding/base64"
	"encoding/binary"
	"math"

	"github.com/wharfmq/wharf/core"
)

// A receipt handle names one lease: base64url (no padding) of the uvarints
// version, queue_id, partition_id, seq, receive_count, then the lease's
// 8-byte tag. Carrying the queue id means a handle cannot act on another
// queue, nor on a re-created queue of the same name (ids are never reused).
// The tag (queue.LeaseTag) binds it to the message's random id, so a handle
// cannot be made up from guessed sequence numbers.

const (
	handleVersion = 2
	tagLen        = 8
	// maxHandleLen bounds the text decoded: five uvarints of at most 10
	// bytes each and the tag, in base64.
	maxHandleLen = 78
)

type handle struct {
	queueID      uint64
	partitionID  uint64
	seq          uint64
	receiveCount int32
	tag          uint64
}

func encodeHandle(h handle) string {
	b := make([]byte, 0, 5*binary.MaxVarintLen64+tagLen)
	b = binary.AppendUvarint(b, handleVersion)
	b = binary.AppendUvarint(b, h.queueID)
	b = binary.AppendUvarint(b, h.partitionID)
	b = binary.AppendUvarint(b, h.seq)
	b = binary.AppendUvarint(b, uint64(h.receiveCount))
	b = binary.BigEndian.AppendUint64(b, h.tag)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeHandle parses a receipt handle given for the queue queueID; field
// names the request field for the error.
func decodeHandle(field, s string, queueID uint64) (handle, error) {
	bad := core.FieldError(field, "receipt handle is not valid for this queue")
	if s == "" {
		return handle{}, core.FieldError(field, "must not be empty")
	}
	if len(s) > maxHandleLen {
		return handle{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return handle{}, bad
	}
	var v [5]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return handle{}, bad
		}
		v[i], b = x, b[n:]
	}
	if len(b) != tagLen || v[0] != handleVersion || v[1] != queueID || v[2] == 0 || v[3] == 0 ||
		v[4] < 1 || v[4] > math.MaxInt32 {
		return handle{}, bad
	}
	return handle{queueID: v[1], partitionID: v[2], seq: v[3], receiveCount: int32(v[4]), tag: binary.BigEndian.Uint64(b)}, nil
}

// handleQueueID returns the queue id a receipt handle names, when it parses
// that far; decodeHandle judges the rest.
func handleQueueID(s string) (uint64, bool) {
	if s == "" || len(s) > maxHandleLen {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || v != handleVersion {
		return 0, false
	}
	id, n := binary.Uvarint(b[n:])
	if n <= 0 {
		return 0, false
	}
	return id, true
}

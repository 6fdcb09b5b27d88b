package validate

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"

	"github.com/wharfmq/wharf/core"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// SendEntry checks one message to send to a queue with attributes attrs,
// from SendMessage (prefix "") or from entry i of SendMessageBatch (prefix
// "entries[i]."); prefix starts every field name in the error. It returns
// the message's delay, or -1 when the message takes the queue's.
func SendEntry(prefix string, attrs *raftv1.QueueAttributes, body string, delay *int32,
	attributes map[string]*wharfv1.MessageAttributeValue, groupID, dedupID string) (delaySeconds int32, err error) {
	if attrs == nil {
		return 0, core.Errorf(core.Internal, "validate: send to a queue without attributes")
	}
	if body == "" {
		return 0, core.FieldError(prefix+"body", "must not be empty")
	}
	if err := text(prefix+"body", body); err != nil {
		return 0, err
	}
	attrBytes, err := messageAttributes(prefix, attributes)
	if err != nil {
		return 0, err
	}
	if size, max := len(body)+attrBytes, maxMessageBytes(attrs); size > max {
		return 0, core.FieldError(prefix+"body", "message is %d bytes, the queue's maximum_message_bytes is %d", size, max)
	}

	delaySeconds = -1
	if delay != nil {
		// SQS applies delays to FIFO queues only as a whole: a per-message
		// delay would reorder a group.
		if attrs.GetFifo() {
			return 0, core.FieldError(prefix+"delay_seconds", "FIFO queues do not support per-message delays; set the queue's delay_seconds instead")
		}
		b := delayBound
		b.field = prefix + b.field
		if err := b.check(*delay); err != nil {
			return 0, err
		}
		delaySeconds = *delay
	}

	// Standard queues accept a group id, as SQS has since 2023, and keep it
	// without ordering by it.
	if err := printable(prefix+"message_group_id", groupID, core.MaxGroupIDLength); err != nil {
		return 0, err
	}
	if groupID == "" && attrs.GetFifo() {
		return 0, core.FieldError(prefix+"message_group_id", "required for FIFO queues")
	}

	if dedupID != "" && !attrs.GetFifo() {
		return 0, core.FieldError(prefix+"message_deduplication_id", "only FIFO queues support deduplication ids")
	}
	if err := printable(prefix+"message_deduplication_id", dedupID, core.MaxDedupIDLength); err != nil {
		return 0, err
	}
	if dedupID == "" && attrs.GetFifo() && !attrs.GetContentBasedDeduplication() {
		return 0, core.FieldError(prefix+"message_deduplication_id", "required: the queue does not have content_based_deduplication")
	}
	return delaySeconds, nil
}

// maxMessageBytes is the queue's size limit. Stored attributes always carry
// one; the default covers records that somehow lack it rather than
// refusing every message.
func maxMessageBytes(attrs *raftv1.QueueAttributes) int {
	if m := attrs.GetMaximumMessageBytes(); m > 0 {
		return int(m)
	}
	return core.DefaultMaximumMessageBytes
}

// DedupID returns the deduplication id of a message sent to a queue with
// attributes attrs: dedupID, or for a FIFO queue with content-based
// deduplication and no dedupID, the hex SHA-256 of the body.
func DedupID(attrs *raftv1.QueueAttributes, body, dedupID string) string {
	if dedupID != "" || !attrs.GetFifo() || !attrs.GetContentBasedDeduplication() {
		return dedupID
	}
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// MaxRequestIDLength bounds a send's request id. It is kept in the queue
// shard's dedup index for 5 minutes, so it stays as small as SQS's
// deduplication ids.
const MaxRequestIDLength = 128

// RequestID checks a send's optional request id (prefix as in SendEntry):
// at most MaxRequestIDLength printable ASCII characters. Empty passes: the
// send is not deduplicated.
func RequestID(prefix, id string) error {
	return printable(prefix+"request_id", id, MaxRequestIDLength)
}

// text checks that s is valid UTF-8 holding only the characters SQS allows
// in message bodies and string attribute values: #x9 | #xA | #xD |
// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func text(field, s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return core.FieldError(field, "invalid UTF-8 at offset %d", i)
		}
		if !allowedRune(r) {
			return core.FieldError(field, "character %U at offset %d is not allowed", r, i)
		}
		i += size
	}
	return nil
}

func allowedRune(r rune) bool {
	switch {
	case r == 0x9, r == 0xA, r == 0xD:
		return true
	case 0x20 <= r && r <= 0xD7FF:
		return true
	case 0xE000 <= r && r <= 0xFFFD:
		return true
	case 0x10000 <= r && r <= 0x10FFFF:
		return true
	}
	return false
}

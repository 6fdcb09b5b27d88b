package validate

import (
	"fmt"

	"github.com/wharfmq/wharf/core"
)

// bound is an integer request field's range and its default when unset.
type bound struct {
	field    string
	min, max int32
	def      int32
}

// check reports v outside b's range.
func (b bound) check(v int32) error {
	if v < b.min || v > b.max {
		return core.FieldError(b.field, "must be between %d and %d, got %d", b.min, b.max, v)
	}
	return nil
}

// resolve returns *v, checked, or b's default when v is unset.
func (b bound) resolve(v *int32) (int32, error) {
	if v == nil {
		return b.def, nil
	}
	if err := b.check(*v); err != nil {
		return 0, err
	}
	return *v, nil
}

// The ranges of the queue attributes, shared by create, update and receive.
var (
	visibilityBound = bound{"visibility_timeout_seconds", 0, core.MaxVisibilityTimeoutSeconds, core.DefaultVisibilityTimeoutSeconds}
	retentionBound  = bound{"message_retention_seconds", core.MinMessageRetentionSeconds, core.MaxMessageRetentionSeconds, core.DefaultMessageRetentionSeconds}
	delayBound      = bound{"delay_seconds", 0, core.MaxDelaySeconds, 0}
	waitBound       = bound{"receive_wait_time_seconds", 0, core.MaxWaitTimeSeconds, 0}
	sizeBound       = bound{"maximum_message_bytes", core.MinMaximumMessageBytes, core.MaxMaximumMessageBytes, core.DefaultMaximumMessageBytes}
	receiveBound    = bound{"max_receive_count", core.MinMaxReceiveCount, core.MaxMaxReceiveCount, 0}
	partitionsBound = bound{"partitions", 1, core.MaxPartitions, 1}
)

// isIDChar reports the characters of queue names and batch entry ids.
func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// idString checks s as a 1 to maxLen long string of [A-Za-z0-9_-].
func idString(field, s string, maxLen int) error {
	if s == "" {
		return core.FieldError(field, "must not be empty")
	}
	if len(s) > maxLen {
		return core.FieldError(field, "must be at most %d characters, got %d", maxLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return core.FieldError(field, "invalid character %s at offset %d: only letters, digits, '-' and '_' are allowed", describe(s[i]), i)
		}
	}
	return nil
}

// printable checks an optional token (group, deduplication and attempt
// ids): at most maxLen characters of printable ASCII, 0x21 to 0x7E, as SQS
// requires. An empty s passes; callers decide whether it is required.
func printable(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return core.FieldError(field, "must be at most %d characters, got %d", maxLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return core.FieldError(field, "invalid character %s at offset %d: only printable ASCII (0x21-0x7E) is allowed", describe(s[i]), i)
		}
	}
	return nil
}

// describe names a byte for an error message: quoted when it is printable
// ASCII, in hex otherwise (it may be part of a multi-byte character).
func describe(c byte) string {
	if 0x20 <= c && c <= 0x7e {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

package validate

import (
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	longest := strings.Repeat("!~", 64) // 128 characters from both ends of the range
	tests := []struct {
		name   string
		prefix string
		id     string
		field  string
		msg    string
	}{
		{name: "empty: no deduplication", id: ""},
		{name: "hex", id: "0123456789abcdef0123456789abcdef"},
		{name: "longest", id: longest},
		{name: "too long", id: longest + "x", field: "request_id", msg: "at most 128 characters, got 129"},
		{name: "space", id: "a b", field: "request_id", msg: "' ' at offset 1"},
		{name: "non-ASCII", id: "é", field: "request_id", msg: "0xC3"},
		{name: "control character in a batch", prefix: "entries[3].", id: "a\nb", field: "entries[3].request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, RequestID(tt.prefix, tt.id), tt.field, tt.msg)
		})
	}
}

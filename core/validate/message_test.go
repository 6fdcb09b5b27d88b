package validate

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

type sendCase struct {
	name      string
	prefix    string
	fifo      bool
	cbd       bool
	maxBytes  int32 // 0: 1024
	body      string
	delay     *int32
	attrs     map[string]*wharfv1.MessageAttributeValue
	group     string
	dedup     string
	wantDelay int32
	field     string
	msg       string
}

func str(v string) *wharfv1.MessageAttributeValue {
	return &wharfv1.MessageAttributeValue{DataType: "String", StringValue: v}
}

func num(v string) *wharfv1.MessageAttributeValue {
	return &wharfv1.MessageAttributeValue{DataType: "Number", StringValue: v}
}

func attrMap(name string, v *wharfv1.MessageAttributeValue) map[string]*wharfv1.MessageAttributeValue {
	return map[string]*wharfv1.MessageAttributeValue{name: v}
}

func runSendCases(t *testing.T, tests []sendCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := defaultAttrs(tt.fifo)
			attrs.ContentBasedDeduplication = tt.cbd
			attrs.MaximumMessageBytes = 1024
			if tt.maxBytes != 0 {
				attrs.MaximumMessageBytes = tt.maxBytes
			}
			body := tt.body
			if body == "" && tt.field != tt.prefix+"body" {
				body = "hello"
			}
			group := tt.group
			if tt.fifo && group == "" && tt.field != tt.prefix+"message_group_id" {
				group = "g"
			}
			delay, err := SendEntry(tt.prefix, attrs, body, tt.delay, tt.attrs, group, tt.dedup)
			expect(t, err, tt.field, tt.msg)
			if tt.field == "" && delay != tt.wantDelay {
				t.Fatalf("delay = %d, want %d", delay, tt.wantDelay)
			}
		})
	}
}

func TestSendEntryBody(t *testing.T) {
	runSendCases(t, []sendCase{
		{name: "plain", body: "hello", wantDelay: -1},
		{name: "allowed control characters", body: "a\tb\nc\rd", wantDelay: -1},
		{name: "edges of the allowed ranges", body: "\x20\ud7ff\ue000\ufffd\U00010000\U0010ffff", wantDelay: -1},
		{name: "exactly the maximum", body: strings.Repeat("x", 1024), wantDelay: -1},
		{name: "empty", body: "", field: "body", msg: "must not be empty"},
		{name: "empty in a batch", prefix: "entries[3].", body: "", field: "entries[3].body"},
		{name: "NUL", body: "a\x00b", field: "body", msg: "U+0000 at offset 1"},
		{name: "other C0 control", body: "\x1f", field: "body", msg: "U+001F"},
		{name: "U+FFFE", body: "\ufffe", field: "body", msg: "U+FFFE"},
		{name: "U+FFFF", body: "ok\uffff", field: "body", msg: "U+FFFF at offset 2"},
		{name: "invalid UTF-8", body: "ab\xffcd", field: "body", msg: "invalid UTF-8 at offset 2"},
		{name: "encoded surrogate", body: "\xed\xa0\x80", field: "body", msg: "invalid UTF-8"},
		{name: "one byte over", body: strings.Repeat("x", 1025), field: "body", msg: "body: message is 1025 bytes, the queue's maximum_message_bytes is 1024"},
		{name: "over in a batch", prefix: "entries[0].", body: strings.Repeat("x", 2000), field: "entries[0].body", msg: "2000 bytes"},
		{
			// 1000 + len("k") + len("String") + len(17 bytes) = 1024.
			name: "attributes count towards the size", body: strings.Repeat("x", 1000),
			attrs: attrMap("k", str(strings.Repeat("v", 17))), wantDelay: -1,
		},
		{
			name: "attributes push it over", body: strings.Repeat("x", 1000),
			attrs: attrMap("k", str(strings.Repeat("v", 18))), field: "body", msg: "message is 1025 bytes",
		},
		{
			name: "binary attributes count too", body: strings.Repeat("x", 1000),
			attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Binary", BinaryValue: make([]byte, 18)}),
			field: "body", msg: "message is 1025 bytes",
		},
	})
}

func TestSendEntryDelay(t *testing.T) {
	runSendCases(t, []sendCase{
		{name: "unset on standard", wantDelay: -1},
		{name: "zero", delay: i32(0), wantDelay: 0},
		{name: "maximum", delay: i32(900), wantDelay: 900},
		{name: "too long", delay: i32(901), field: "delay_seconds", msg: "delay_seconds: must be between 0 and 900, got 901"},
		{name: "negative", delay: i32(-1), field: "delay_seconds"},
		{name: "too long in a batch", prefix: "entries[1].", delay: i32(901), field: "entries[1].delay_seconds"},
		{name: "unset on FIFO", fifo: true, dedup: "d", wantDelay: -1},
		{name: "set on FIFO", fifo: true, dedup: "d", delay: i32(0), field: "delay_seconds", msg: "FIFO queues do not support per-message delays"},
	})
}

func TestSendEntryGroupAndDedup(t *testing.T) {
	printable := strings.Repeat("!~", 64) // 128 characters from both ends of the range
	runSendCases(t, []sendCase{
		{name: "FIFO with both ids", fifo: true, group: "g-1", dedup: "d-1", wantDelay: -1},
		{name: "FIFO longest ids", fifo: true, group: printable, dedup: printable, wantDelay: -1},
		{name: "FIFO content-based without dedup id", fifo: true, cbd: true, wantDelay: -1},
		{name: "FIFO content-based with dedup id", fifo: true, cbd: true, dedup: "d", wantDelay: -1},
		{name: "FIFO without group", fifo: true, dedup: "d", field: "message_group_id", msg: "required for FIFO"},
		{name: "FIFO without group in a batch", prefix: "entries[4].", fifo: true, dedup: "d", field: "entries[4].message_group_id"},
		{name: "FIFO without dedup id", fifo: true, field: "message_deduplication_id", msg: "content_based_deduplication"},
		{name: "group too long", fifo: true, dedup: "d", group: printable + "x", field: "message_group_id", msg: "at most 128"},
		{name: "group with a space", fifo: true, dedup: "d", group: "a b", field: "message_group_id", msg: "' '"},
		{name: "group with DEL", fifo: true, dedup: "d", group: "a\x7f", field: "message_group_id", msg: "0x7F"},
		{name: "group with non-ASCII", fifo: true, dedup: "d", group: "é", field: "message_group_id", msg: "0xC3"},
		{name: "dedup id too long", fifo: true, dedup: printable + "x", field: "message_deduplication_id", msg: "at most 128"},
		{name: "dedup id with a tab", fifo: true, dedup: "a\tb", field: "message_deduplication_id"},
		{name: "group on standard is kept", group: "g", wantDelay: -1},
		{name: "bad group on standard", group: "a b", field: "message_group_id"},
		{name: "dedup id on standard", dedup: "d", field: "message_deduplication_id", msg: "only FIFO"},
		{name: "dedup id on standard in a batch", prefix: "entries[9].", dedup: "d", field: "entries[9].message_deduplication_id"},
	})
}

func TestSendEntryAttributes(t *testing.T) {
	ten := map[string]*wharfv1.MessageAttributeValue{}
	for i := range 10 {
		ten[string(rune('a'+i))] = str("v")
	}
	eleven := map[string]*wharfv1.MessageAttributeValue{"k": str("v")}
	for k, v := range ten {
		eleven[k] = v
	}
	const name = `attributes["k"]`
	runSendCases(t, []sendCase{
		{name: "ten attributes", attrs: ten, wantDelay: -1},
		{name: "eleven attributes", attrs: eleven, field: "attributes", msg: "at most 10 attributes are allowed, got 11"},
		{name: "eleven in a batch", prefix: "entries[2].", attrs: eleven, field: "entries[2].attributes"},

		// Names.
		{name: "name characters", attrs: attrMap("a-Z_0.9", str("v")), wantDelay: -1},
		{name: "longest name", attrs: attrMap(strings.Repeat("n", 256), str("v")), wantDelay: -1, maxBytes: 2048},
		{name: "name too long", attrs: attrMap(strings.Repeat("n", 257), str("v")), field: `attributes["` + strings.Repeat("n", 257) + `"]`, msg: "at most 256"},
		{name: "empty name", attrs: attrMap("", str("v")), field: `attributes[""]`, msg: "must not be empty"},
		{name: "space in name", attrs: attrMap("a b", str("v")), field: `attributes["a b"]`, msg: "' '"},
		{name: "quote in name is quoted in the field", attrs: attrMap(`a"b`, str("v")), field: `attributes["a\"b"]`},
		{name: "AWS. prefix", attrs: attrMap("AWS.x", str("v")), field: `attributes["AWS.x"]`, msg: "reserved"},
		{name: "aws. prefix in lower case", attrs: attrMap("aws.x", str("v")), field: `attributes["aws.x"]`, msg: "reserved"},
		{name: "Amazon. prefix", attrs: attrMap("amazon.x", str("v")), field: `attributes["amazon.x"]`, msg: "reserved"},
		{name: "AWS without the dot is fine", attrs: attrMap("AWSome", str("v")), wantDelay: -1},
		{name: "leading dot", attrs: attrMap(".a", str("v")), field: `attributes[".a"]`, msg: "start or end"},
		{name: "trailing dot", attrs: attrMap("a.", str("v")), field: `attributes["a."]`, msg: "start or end"},
		{name: "double dot", attrs: attrMap("a..b", str("v")), field: `attributes["a..b"]`, msg: `".."`},
		{name: "bad name in a batch", prefix: "entries[1].", attrs: attrMap(".a", str("v")), field: `entries[1].attributes[".a"]`},

		// Data types.
		{name: "custom String", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String.json", StringValue: "{}"}), wantDelay: -1},
		{name: "custom Binary", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Binary.gif", BinaryValue: []byte{1}}), wantDelay: -1},
		{name: "custom label with dots", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Number.a.b-c_d", StringValue: "1"}), wantDelay: -1},
		{name: "empty data type", attrs: attrMap("k", &wharfv1.MessageAttributeValue{StringValue: "v"}), field: name + ".data_type", msg: "must not be empty"},
		{name: "nil value", attrs: attrMap("k", nil), field: name + ".data_type"},
		{name: "unknown data type", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Text", StringValue: "v"}), field: name + ".data_type", msg: `got "Text"`},
		{name: "data type in lower case", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "string", StringValue: "v"}), field: name + ".data_type"},
		{name: "empty custom label", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String.", StringValue: "v"}), field: name + ".data_type", msg: "custom label"},
		{name: "bad custom label", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String.a b", StringValue: "v"}), field: name + ".data_type", msg: "' '"},
		{
			name:  "data type too long",
			attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String." + strings.Repeat("x", 250), StringValue: "v"}),
			field: name + ".data_type", msg: "at most 256", maxBytes: 2048,
		},
		{
			name:      "longest data type",
			attrs:     attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String." + strings.Repeat("x", 249), StringValue: "v"}),
			wantDelay: -1, maxBytes: 2048,
		},

		// Values.
		{name: "String without value", attrs: attrMap("k", str("")), field: name + ".string_value", msg: "must not be empty"},
		{name: "String with binary", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "String", StringValue: "v", BinaryValue: []byte{1}}), field: name + ".binary_value", msg: "must be empty"},
		{name: "String with a forbidden character", attrs: attrMap("k", str("a\x00")), field: name + ".string_value", msg: "U+0000"},
		{name: "Number without value", attrs: attrMap("k", num("")), field: name + ".string_value"},
		{name: "Number with binary", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Number", StringValue: "1", BinaryValue: []byte{1}}), field: name + ".binary_value"},
		{name: "Binary without value", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Binary"}), field: name + ".binary_value", msg: "must not be empty"},
		{name: "Binary with string", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Binary", BinaryValue: []byte{1}, StringValue: "v"}), field: name + ".string_value", msg: "must be empty"},
		{name: "Binary may hold any bytes", attrs: attrMap("k", &wharfv1.MessageAttributeValue{DataType: "Binary", BinaryValue: []byte{0, 0xff}}), wantDelay: -1},
	})
}

func TestNumberAttribute(t *testing.T) {
	digits38 := strings.Repeat("9", 38)
	tests := []struct {
		value string
		ok    bool
		msg   string
	}{
		{"0", true, ""},
		{"-0", true, ""},
		{"42", true, ""},
		{"+42", true, ""},
		{"-1.5", true, ""},
		{"1.", true, ""},
		{".5", true, ""},
		{"-1.5e10", true, ""},
		{"2E-3", true, ""},
		{"1e+5", true, ""},
		{digits38, true, ""},
		{"0.000" + digits38, true, ""},
		{"1" + strings.Repeat("0", 60), true, ""}, // one significant digit
		{"1e126", true, ""},
		{"-1e126", true, ""},
		{"1e-128", true, ""},
		{"0e999", true, ""},
		{"0.0000", true, ""},
		{digits38 + "9", false, "39 significant digits"},
		{"1." + strings.Repeat("0", 37) + "1", false, "39 significant digits"},
		{"1e127", false, "out of range"},
		{"-1e127", false, "out of range"},
		{"1e400", false, "out of range"},
		{"1e-129", false, "out of range"},
		{"1e-400", false, "out of range"},
		{"abc", false, "not a decimal number"},
		{"1,5", false, "not a decimal number"},
		{"1e", false, "not a decimal number"},
		{"e5", false, "not a decimal number"},
		{".", false, "not a decimal number"},
		{"-", false, "not a decimal number"},
		{"1.2.3", false, "not a decimal number"},
		{" 1", false, "not a decimal number"},
		{"1 ", false, "not a decimal number"},
		{"0x1p3", false, "not a decimal number"},
		{"Inf", false, "not a decimal number"},
		{"NaN", false, "not a decimal number"},
		{"1_000", false, "not a decimal number"},
		{"++1", false, "not a decimal number"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			field := ""
			if !tt.ok {
				field = `attributes["n"].string_value`
			}
			attrs := defaultAttrs(false)
			_, err := SendEntry("", attrs, "body", nil, attrMap("n", num(tt.value)), "", "")
			expect(t, err, field, tt.msg)
		})
	}
}

func TestSendEntryErrorsAreStable(t *testing.T) {
	// Several bad attributes: the error must not depend on map order.
	bad := map[string]*wharfv1.MessageAttributeValue{}
	for _, n := range []string{"z.", "m.", "a.", "q."} {
		bad[n] = str("v")
	}
	for range 20 {
		_, err := SendEntry("", defaultAttrs(false), "b", nil, bad, "", "")
		expect(t, err, `attributes["a."]`, "")
	}
}

func TestSendEntryWithoutAttributes(t *testing.T) {
	_, err := SendEntry("", nil, "b", nil, nil, "", "")
	expectInternal(t, err)
}

func TestDedupID(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	hash := hex.EncodeToString(sum[:])
	fifo := defaultAttrs(true)
	cbd := defaultAttrs(true)
	cbd.ContentBasedDeduplication = true
	tests := []struct {
		name  string
		attrs *raftv1.QueueAttributes
		dedup string
		want  string
	}{
		{"explicit id wins", cbd, "mine", "mine"},
		{"content-based", cbd, "", hash},
		{"FIFO without content-based", fifo, "", ""},
		{"FIFO with id", fifo, "mine", "mine"},
		{"standard", defaultAttrs(false), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DedupID(tt.attrs, "hello", tt.dedup); got != tt.want {
				t.Fatalf("DedupID = %q, want %q", got, tt.want)
			}
		})
	}
}

package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func TestSend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  *wharfv1.SendMessageRequest
	}{
		{"inline body", "", []string{"q", "hello world"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "hello world"}},
		{"stdin when BODY is omitted", "from stdin\n", []string{"q"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "from stdin\n"}},
		{"stdin with -", "dash\n", []string{"q", "-"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "dash\n"}},
		{"body starting with - after --", "", []string{"q", "--delay", "3", "--", "-5 degrees"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "-5 degrees", DelaySeconds: proto.Int32(3)}},
		{"delay 0 is sent when given", "", []string{"q", "x", "--delay", "0"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "x", DelaySeconds: proto.Int32(0)}},
		{"fifo ids", "", []string{"q.fifo", "x", "--group", "g1", "--dedup-id", "d1"},
			&wharfv1.SendMessageRequest{Queue: "q.fifo", Body: "x", MessageGroupId: "g1", MessageDeduplicationId: "d1"}},
		{"attributes", "", []string{"q", "x", "--attr", "color=String:red=ish", "--attr", "n=Number.int:42",
			"--attr", "blob=Binary:AAEC", "--attr", "empty=String:"},
			&wharfv1.SendMessageRequest{Queue: "q", Body: "x", Attributes: map[string]*wharfv1.MessageAttributeValue{
				"color": {DataType: "String", StringValue: "red=ish"},
				"n":     {DataType: "Number.int", StringValue: "42"},
				"blob":  {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
				"empty": {DataType: "String"},
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &fakeService{sent: &wharfv1.SendMessageResponse{MessageId: "m-1", Md5OfBody: "d41d8"}}
			r := runCLI(t, svc, tc.stdin, append([]string{"send"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			wantRequest(t, svc, tc.want)
			if r.stdout != "message_id=m-1 md5=d41d8\n" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

func TestSendFIFOPrintsSequence(t *testing.T) {
	svc := &fakeService{sent: &wharfv1.SendMessageResponse{MessageId: "m-2", Md5OfBody: "abc", SequenceNumber: "17"}}
	r := runCLI(t, svc, "", "send", "q.fifo", "x", "--group", "g")
	if r.code != 0 || r.stdout != "message_id=m-2 md5=abc sequence=17\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSendRejectsBadBodies(t *testing.T) {
	for name, stdin := range map[string]string{
		"not UTF-8": "\xff\xfe",
		"too large": strings.Repeat("x", 1<<20+1),
	} {
		svc := &fakeService{}
		r := runCLI(t, svc, stdin, "send", "q")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "wharf: ") || len(svc.requests) != 0 {
			t.Errorf("%s: exit %d, stderr %q, requests %d", name, r.code, r.stderr, len(svc.requests))
		}
	}
}

func TestReceive(t *testing.T) {
	svc := &fakeService{messages: []*wharfv1.Message{
		{MessageId: "m-1", ReceiptHandle: "AQID", Body: "first", ReceiveCount: 1},
		{MessageId: "m-2", ReceiptHandle: "AQIE", Body: "two\nlines", ReceiveCount: 3,
			MessageGroupId: "g", SequenceNumber: "9",
			Attributes: map[string]*wharfv1.MessageAttributeValue{
				"z": {DataType: "Number", StringValue: "1"},
				"a": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
			}},
	}}
	r := runCLI(t, svc, "", "receive", "q", "--max", "10", "--wait", "0", "--visibility", "60", "--attempt-id", "try-1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.ReceiveMessageRequest{Queue: "q", MaxMessages: 10,
		WaitTimeSeconds: proto.Int32(0), VisibilityTimeoutSeconds: proto.Int32(60), ReceiveRequestAttemptId: "try-1"})
	want := `message_id:     m-1
receive_count:  1
receipt_handle: AQID
body:           first

message_id:       m-2
receive_count:    3
receipt_handle:   AQIE
message_group_id: g
sequence_number:  9
attr.a:           Binary:AAEC
attr.z:           Number:1
body:             two
lines
`
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestReceiveDefaults(t *testing.T) {
	svc := &fakeService{}
	r := runCLI(t, svc, "", "receive", "q")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Unset wait and visibility: the queue's own settings apply.
	wantRequest(t, svc, &wharfv1.ReceiveMessageRequest{Queue: "q", MaxMessages: 1})
	if r.stdout != "" || r.stderr != "no messages\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestDeleteMessage(t *testing.T) {
	svc := &fakeService{}
	if r := runCLI(t, svc, "", "delete", "q", "AQID"); r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.DeleteMessageRequest{Queue: "q", ReceiptHandle: "AQID"})
}

func TestChangeVisibility(t *testing.T) {
	svc := &fakeService{}
	if r := runCLI(t, svc, "", "change-visibility", "q", "AQID", "120"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantRequest(t, svc, &wharfv1.ChangeMessageVisibilityRequest{Queue: "q", ReceiptHandle: "AQID", VisibilityTimeoutSeconds: 120})
}

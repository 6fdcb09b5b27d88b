package client

import (
	"crypto/rand"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// Sends are retried even when an attempt's outcome is unknown (a timeout:
// the server may have stored the message and only the answer was lost).
// That is safe because every send carries a request id: the queue
// remembers it for 5 minutes and answers a repeat with the first send's
// message id, storing nothing. The id must be chosen once, before the
// first attempt, so that every attempt carries the same one.

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	return hex.EncodeToString(b[:])
}

// withRequestID returns req with a request id, a copy if it had none: the
// caller's request is left as it was.
func withRequestID(req *wharfv1.SendMessageRequest) *wharfv1.SendMessageRequest {
	if req == nil || req.GetRequestId() != "" {
		return req // a nil request is the server's to refuse
	}
	out := proto.CloneOf(req)
	out.RequestId = newRequestID()
	return out
}

// withRequestIDs returns req with a request id on every entry, a copy if
// any entry had none.
func withRequestIDs(req *wharfv1.SendMessageBatchRequest) *wharfv1.SendMessageBatchRequest {
	var out *wharfv1.SendMessageBatchRequest
	for i, e := range req.GetEntries() {
		if e.GetRequestId() != "" {
			continue
		}
		if out == nil {
			out = proto.CloneOf(req)
		}
		out.Entries[i].RequestId = newRequestID()
	}
	if out == nil {
		return req
	}
	return out
}

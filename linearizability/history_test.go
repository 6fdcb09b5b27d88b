package linearizability

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// hb builds histories by hand: each op is sequential unless told otherwise.
type hb struct {
	r *Recorder
}

func newHB() *hb { return &hb{r: NewRecorder()} }

func (b *hb) send(c int, q, body, group, dedup, id string, at int64) {
	i := b.r.Invoke(c, KindSend, q, Input{Body: body, GroupID: group, DedupID: dedup, RequestID: "req-" + body + dedup})
	b.r.Complete(i, OutcomeOK, Output{MessageIDs: []string{id}, AppliedAtMs: at})
}

func (b *hb) sendOutcome(c int, q, body string, o Outcome) {
	i := b.r.Invoke(c, KindSend, q, Input{Body: body, RequestID: "req-" + body})
	var out Output
	if o == OutcomeOK {
		out.MessageIDs = []string{"id-" + body}
	}
	b.r.Complete(i, o, out)
}

// recv: msgs as "body#count" with id "id-body" and handle "h-body-count".
func (b *hb) recv(c int, q string, vis int32, at int64, msgs ...string) {
	i := b.r.Invoke(c, KindReceive, q, Input{VisibilitySeconds: vis, MaxMessages: 10})
	b.r.Complete(i, OutcomeOK, Output{Messages: recvd(msgs...), AppliedAtMs: at})
}

func recvd(msgs ...string) []Received {
	var out []Received
	for _, m := range msgs {
		var body string
		var n int32
		fmt.Sscanf(strings.Replace(m, "#", " ", 1), "%s %d", &body, &n)
		out = append(out, Received{MessageID: "id-" + body, Body: body, ReceiveCount: n, ReceiptHandle: fmt.Sprintf("h-%s-%d", body, n)})
	}
	return out
}

func (b *hb) del(c int, q, body string, n int32, at int64) {
	i := b.r.Invoke(c, KindDelete, q, Input{ReceiptHandle: fmt.Sprintf("h-%s-%d", body, n)})
	b.r.Complete(i, OutcomeOK, Output{AppliedAtMs: at})
}

func (b *hb) chvis(c int, q, body string, n, vis int32, at int64) {
	i := b.r.Invoke(c, KindChangeVisibility, q, Input{ReceiptHandle: fmt.Sprintf("h-%s-%d", body, n), VisibilitySeconds: vis})
	b.r.Complete(i, OutcomeOK, Output{AppliedAtMs: at})
}

func (b *hb) h() History { return b.r.History() }

func expectValid(t *testing.T, r Result) {
	t.Helper()
	if !r.Valid || r.Inconclusive {
		t.Fatalf("expected valid:\n%s", r.String())
	}
}

func expectInvalid(t *testing.T, r Result, contains string) {
	t.Helper()
	if r.Valid {
		t.Fatalf("expected a violation containing %q:\n%s", contains, r.String())
	}
	if !strings.Contains(strings.Join(r.Anomalies, "\n"), contains) {
		t.Fatalf("anomalies lack %q:\n%s", contains, r.String())
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	b := newHB()
	b.send(0, "q", "a", "", "", "id-a", 10)
	b.recv(1, "q", 30, 20, "a#1")
	path := filepath.Join(t.TempDir(), "h.json")
	if err := b.h().Save(path); err != nil {
		t.Fatal(err)
	}
	h, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Ops) != 2 || h.Ops[1].Output.Messages[0].ReceiptHandle != "h-a-1" || h.Ops[1].Call != 3 {
		t.Fatalf("round trip lost data: %+v", h.Ops)
	}
}

func TestRecorderOpenOpIsUnknown(t *testing.T) {
	r := NewRecorder()
	r.Invoke(0, KindSend, "q", Input{Body: "a"})
	h := r.History()
	if h.Ops[0].Outcome != OutcomeUnknown || h.Ops[0].Return <= h.Ops[0].Call {
		t.Fatalf("open op: %+v", h.Ops[0])
	}
}

package jepsen

import (
	"strings"
	"testing"

	lin "github.com/wharfmq/wharf/linearizability"
)

// dlqHistory builds histories by hand for CheckDLQ.
type dlqHistory struct{ r *lin.Recorder }

func newDLQHistory() *dlqHistory { return &dlqHistory{lin.NewRecorder()} }

func (d *dlqHistory) send(body string, outcome lin.Outcome) {
	id := d.r.Invoke(0, lin.KindSend, QueueDLQSrc, lin.Input{Body: body, RequestID: "r-" + body})
	d.r.Complete(id, outcome, lin.Output{MessageIDs: []string{"id-" + body}})
}

func (d *dlqHistory) recv(queue string, msgs ...lin.Received) {
	id := d.r.Invoke(0, lin.KindReceive, queue, lin.Input{MaxMessages: 10, VisibilitySeconds: 1})
	d.r.Complete(id, lin.OutcomeOK, lin.Output{Messages: msgs})
}

func (d *dlqHistory) del(handle string, outcome lin.Outcome) {
	id := d.r.Invoke(0, lin.KindDelete, QueueDLQSrc, lin.Input{ReceiptHandle: handle})
	d.r.Complete(id, outcome, lin.Output{})
}

func msg(body, id string, count int32) lin.Received {
	return lin.Received{Body: body, MessageID: id, ReceiveCount: count, ReceiptHandle: body + "#" + string(rune('0'+count))}
}

func TestCheckDLQ(t *testing.T) {
	// A correct history: a deleted, b moved after 2 receives, c unknown
	// send that came out, then the drain.
	ok := newDLQHistory()
	ok.send("a", lin.OutcomeOK)
	ok.send("b", lin.OutcomeOK)
	ok.send("c", lin.OutcomeUnknown)
	ok.recv(QueueDLQSrc, msg("a", "id-a", 1), msg("b", "id-b", 1))
	ok.del("a#1", lin.OutcomeOK)
	ok.recv(QueueDLQSrc, msg("b", "id-b", 2))
	ok.recv(QueueDLQSrc, msg("c", "id-c", 1)) // drain of the source (b moved)
	ok.del("c#1", lin.OutcomeOK)
	ok.recv(QueueDLQDead, lin.Received{Body: "b", MessageID: "id-b2", ReceiveCount: 1, ReceiptHandle: "db"})
	res := CheckDLQ(ok.r.History(), QueueDLQSrc, QueueDLQDead, 2)
	if !res.Valid || res.Counts.OK != 2 || res.Counts.Recovered != 1 {
		t.Fatalf("correct history judged %s", res.String())
	}

	for _, tc := range []struct {
		name  string
		build func(d *dlqHistory)
		want  string
	}{
		{"lost: neither deleted nor moved", func(d *dlqHistory) {
			d.send("a", lin.OutcomeOK)
			d.recv(QueueDLQSrc, msg("a", "id-a", 1))
			d.recv(QueueDLQSrc, msg("a", "id-a", 2))
		}, "lost:"},
		{"moved twice", func(d *dlqHistory) {
			d.send("a", lin.OutcomeOK)
			d.recv(QueueDLQDead, lin.Received{Body: "a", MessageID: "x1", ReceiveCount: 1, ReceiptHandle: "h1"})
			d.recv(QueueDLQDead, lin.Received{Body: "a", MessageID: "x2", ReceiveCount: 1, ReceiptHandle: "h2"})
		}, "moved twice"},
		{"delivered past max_receive_count", func(d *dlqHistory) {
			d.send("a", lin.OutcomeOK)
			d.recv(QueueDLQSrc, msg("a", "id-a", 3))
			d.del("a#3", lin.OutcomeOK)
		}, "over-delivered"},
		{"redelivered after delete", func(d *dlqHistory) {
			d.send("a", lin.OutcomeOK)
			d.recv(QueueDLQSrc, msg("a", "id-a", 1))
			d.del("a#1", lin.OutcomeOK)
			d.recv(QueueDLQSrc, msg("a", "id-a", 2))
		}, "redelivered after delete"},
		{"in the dead-letter queue, never sent", func(d *dlqHistory) {
			d.recv(QueueDLQDead, lin.Received{Body: "z", MessageID: "x", ReceiveCount: 1, ReceiptHandle: "h"})
		}, "never sent"},
		{"in the dead-letter queue, send failed", func(d *dlqHistory) {
			d.send("a", lin.OutcomeFail)
			d.recv(QueueDLQDead, lin.Received{Body: "a", MessageID: "x", ReceiveCount: 1, ReceiptHandle: "h"})
		}, "send failed"},
	} {
		d := newDLQHistory()
		tc.build(d)
		res := CheckDLQ(d.r.History(), QueueDLQSrc, QueueDLQDead, 2)
		if res.Valid || !strings.Contains(strings.Join(res.Anomalies, "\n"), tc.want) {
			t.Errorf("%s: judged %s, want an anomaly %q", tc.name, res.String(), tc.want)
		}
	}
}

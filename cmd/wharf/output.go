package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// jsonOptions match the server's JSON: proto field names, zero values
// included.
var jsonOptions = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true, EmitUnpopulated: true}

func (c *cli) printJSON(m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode response as JSON: %w", err)
	}
	_, err = fmt.Fprintf(c.out, "%s\n", b)
	return err
}

// printEmpty prints an empty response: nothing, unless --json asks for it.
func (c *cli) printEmpty(m proto.Message) error {
	if c.json {
		return c.printJSON(m)
	}
	return nil
}

type kv struct{ key, value string }

// printKV prints "key: value" lines with the values aligned.
func printKV(w io.Writer, lines []kv) error {
	width := 0
	for _, l := range lines {
		width = max(width, len(l.key)+1)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%-*s %s\n", width, l.key+":", l.value); err != nil {
			return err
		}
	}
	return nil
}

func printQueue(w io.Writer, q *wharfv1.Queue) error {
	redrive := "none"
	if p := q.GetRedrivePolicy(); p.GetDeadLetterQueue() != "" {
		redrive = fmt.Sprintf("dead_letter_queue=%s max_receive_count=%d", p.GetDeadLetterQueue(), p.GetMaxReceiveCount())
	}
	return printKV(w, []kv{
		{"name", q.GetName()},
		{"fifo", strconv.FormatBool(q.GetFifo())},
		{"partitions", itoa(q.GetPartitions())},
		{"content_based_deduplication", strconv.FormatBool(q.GetContentBasedDeduplication())},
		{"visibility_timeout_seconds", itoa(q.GetVisibilityTimeoutSeconds())},
		{"message_retention_seconds", itoa(q.GetMessageRetentionSeconds())},
		{"delay_seconds", itoa(q.GetDelaySeconds())},
		{"receive_wait_time_seconds", itoa(q.GetReceiveWaitTimeSeconds())},
		{"maximum_message_bytes", itoa(q.GetMaximumMessageBytes())},
		{"redrive_policy", redrive},
		{"approximate_number_of_messages", itoa(q.GetApproximateNumberOfMessages())},
		{"approximate_number_of_messages_not_visible", itoa(q.GetApproximateNumberOfMessagesNotVisible())},
		{"approximate_number_of_messages_delayed", itoa(q.GetApproximateNumberOfMessagesDelayed())},
		{"created_timestamp", timestamp(q.GetCreatedTimestamp())},
		{"last_modified_timestamp", timestamp(q.GetLastModifiedTimestamp())},
	})
}

// printMessages prints one block per message, separated by blank lines.
// The body comes last because it may span lines.
func printMessages(w io.Writer, msgs []*wharfv1.Message) error {
	for i, m := range msgs {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		lines := []kv{
			{"message_id", m.GetMessageId()},
			{"receive_count", itoa(m.GetReceiveCount())},
			{"receipt_handle", m.GetReceiptHandle()},
		}
		if g := m.GetMessageGroupId(); g != "" {
			lines = append(lines, kv{"message_group_id", g})
		}
		if s := m.GetSequenceNumber(); s != "" {
			lines = append(lines, kv{"sequence_number", s})
		}
		names := make([]string, 0, len(m.GetAttributes()))
		for name := range m.GetAttributes() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			lines = append(lines, kv{"attr." + name, attrString(m.GetAttributes()[name])})
		}
		lines = append(lines, kv{"body", m.GetBody()})
		if err := printKV(w, lines); err != nil {
			return err
		}
	}
	return nil
}

// attrString formats an attribute as TYPE:VALUE, the form --attr takes.
func attrString(v *wharfv1.MessageAttributeValue) string {
	if strings.HasPrefix(v.GetDataType(), "Binary") {
		return v.GetDataType() + ":" + base64.StdEncoding.EncodeToString(v.GetBinaryValue())
	}
	return v.GetDataType() + ":" + v.GetStringValue()
}

func itoa[T int32 | int64](v T) string { return strconv.FormatInt(int64(v), 10) }

// timestamp formats Unix milliseconds as UTC RFC 3339; "-" when unset.
func timestamp(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// printTable prints rows under header in left-aligned columns two spaces
// apart.
func printTable(w io.Writer, header []string, rows [][]string) error {
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, row := range append([][]string{header}, rows...) {
		var b strings.Builder
		for i, cell := range row {
			if i < len(row)-1 {
				fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
			} else {
				b.WriteString(cell)
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

// printClusterStatus prints a table of nodes and one of shards, with a line
// per replica; a shard's own columns are on its first line only.
func printClusterStatus(w io.Writer, s *wharfv1.GetClusterStatusResponse) error {
	var nodes [][]string
	for _, n := range s.GetNodes() {
		reachable := "no"
		if n.GetReachable() {
			reachable = "yes"
		}
		nodes = append(nodes, []string{utoa(n.GetNodeId()), n.GetState(), n.GetRaftAddr(), n.GetApiAddr(), reachable})
	}
	if err := printTable(w, []string{"NODE", "STATE", "RAFT ADDR", "API ADDR", "REACHABLE"}, nodes); err != nil {
		return err
	}

	var shards [][]string
	for _, sh := range s.GetShards() {
		shard := []string{utoa(sh.GetShardId()), sh.GetKind(), nodeID(sh.GetLeaderNodeId()), itoa(sh.GetPartitions())}
		if len(sh.GetReplicas()) == 0 {
			shards = append(shards, append(shard, "-", "-", "-", "-", "-"))
		}
		for i, r := range sh.GetReplicas() {
			if i > 0 {
				shard = []string{"", "", "", ""}
			}
			// A replica that sent no status has applied index and lag 0.
			applied, lag := utoa(r.GetAppliedIndex()), utoa(r.GetLag())
			if r.GetAppliedIndex() == 0 && r.GetLag() == 0 {
				applied, lag = "-", "-"
			}
			shards = append(shards, append(shard, utoa(r.GetReplicaId()), nodeID(r.GetNodeId()), r.GetHealth(), applied, lag))
		}
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return printTable(w, []string{"SHARD", "KIND", "LEADER", "PARTITIONS", "REPLICA", "NODE", "HEALTH", "APPLIED", "LAG"}, shards)
}

// printNode prints a node that AddNode or RemoveNode returned. Reachable
// is left out: those calls do not check it.
func printNode(w io.Writer, n *wharfv1.ClusterNode) error {
	return printKV(w, []kv{
		{"node_id", utoa(n.GetNodeId())},
		{"state", n.GetState()},
		{"raft_addr", n.GetRaftAddr()},
		{"api_addr", n.GetApiAddr()},
	})
}

func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// nodeID formats a node id; "-" for 0, no node (no leader is known, or a
// replica's node is not).
func nodeID(id uint64) string {
	if id == 0 {
		return "-"
	}
	return utoa(id)
}

package main_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// newestFile returns the most recently written non-empty file under dir
// whose path matches match.
func newestFile(t *testing.T, dir string, match func(path string) bool) string {
	t.Helper()
	var newest string
	var newestTime time.Time
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !match(path) {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() > 0 && fi.ModTime().After(newestTime) {
			newest, newestTime = path, fi.ModTime()
		}
		return nil
	})
	if err != nil || newest == "" {
		t.Fatalf("no file to cut under %s: %v", dir, err)
	}
	return newest
}

// cutTail removes the last n bytes of path, as a power loss during (or soon
// after) an append can.
func cutTail(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut %d bytes off %s (%d bytes)", n, path, fi.Size())
}

// checkAllReceived drains queue and fails for each acknowledged message not
// received.
func (s *server) checkAllReceived(queue string, acked map[string]string) {
	s.t.Helper()
	seen := s.drain(queue)
	lost := 0
	for body := range acked {
		if seen[body] == 0 {
			lost++
		}
	}
	if lost > 0 || len(seen) != len(acked) {
		s.t.Fatalf("after the restart: %d of %d acknowledged messages lost, %d distinct received", lost, len(acked), len(seen))
	}
}

// TestTornRaftLogTailRecovered: a clean stop, then the newest Raft (tan)
// log loses its last 7 bytes, as a power loss can leave it (tan does not
// fsync a log it closes, and an append cut short looks the same). The node
// used to panic on every start ("ReadRaftState failed: invalid chunk"); now
// it cuts the torn record, says so in one line naming the file and the
// bytes, starts, and still has every acknowledged message: the clean stop
// had fsynced them all, and the cut record was never acknowledged.
func TestTornRaftLogTailRecovered(t *testing.T) {
	s := newServer(t)
	s.createQueue("orders", false)
	acked := s.sendN("orders", 1000, "m")
	s.stop()

	log := newestFile(t, filepath.Join(s.dataDir, "raft"), func(p string) bool {
		return strings.Contains(p, string(filepath.Separator)+"tandb"+string(filepath.Separator)) && strings.HasSuffix(p, ".log")
	})
	cutTail(t, log, 7)
	s.start()

	lines := s.tornLines()
	if len(lines) != 1 || !strings.Contains(lines[0], "file="+log) || !strings.Contains(lines[0], "dropped_from=") {
		t.Fatalf("want one line naming %s and the bytes dropped, got %q", log, lines)
	}
	t.Log(lines[0])
	s.checkAllReceived("orders", acked)
}

// TestTornPebbleWALTailTolerated: the same cut on the newest write-ahead
// log of a queue shard's Pebble store. Pebble reads a torn tail of its
// newest WAL as its end; what it loses there is re-applied from the Raft
// log, so nothing acknowledged is lost and the node starts.
func TestTornPebbleWALTailTolerated(t *testing.T) {
	s := newServer(t)
	s.createQueue("orders", false)
	acked := s.sendN("orders", 1000, "m")
	s.stop()

	wal := newestFile(t, filepath.Join(s.dataDir, "queue"), func(p string) bool { return strings.HasSuffix(p, ".log") })
	cutTail(t, wal, 7)
	s.start()
	s.checkAllReceived("orders", acked)
}

// tornLines returns the lines of s's log that report a cut.
func (s *server) tornLines() []string {
	s.t.Helper()
	var lines []string
	for _, line := range strings.Split(s.logText(), "\n") {
		if strings.Contains(line, "cut a torn tail off a Raft log") {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestClusterNodeWithTornRaftLogCatchesUp: one node of three stops, loses
// the tail of its newest Raft log, misses sends while it is down, and comes
// back: it cuts the tail, catches up from the leaders (every replica on it
// reaches its leader's applied index), and with another node then stopped
// it serves, with the third, every acknowledged message.
func TestClusterNodeWithTornRaftLogCatchesUp(t *testing.T) {
	c := newCluster(t, 3)
	svc := client.New(c.endpoints())
	if _, err := svc.CreateQueue(ctx(t), &wharfv1.CreateQueueRequest{Name: "ledger"}); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for body := range c.nodes[1].sendN("ledger", 300, "before") {
		acked[body] = true
	}
	torn := c.nodes[3]
	torn.stop()
	log := newestFile(t, filepath.Join(torn.dataDir, "raft"), func(p string) bool {
		return strings.Contains(p, string(filepath.Separator)+"tandb"+string(filepath.Separator)) && strings.HasSuffix(p, ".log")
	})
	cutTail(t, log, 7)
	for body := range c.nodes[1].sendN("ledger", 100, "while-down") {
		acked[body] = true
	}
	torn.start()
	if lines := torn.tornLines(); len(lines) != 1 || !strings.Contains(lines[0], "file="+log) {
		t.Fatalf("want one line naming %s, got %q", log, lines)
	}

	var behind string // the last replica seen not caught up, for the failure message
	defer func() {
		if t.Failed() {
			t.Logf("last replica on node 3 not caught up: %s", behind)
		}
	}()
	waitFor(t, "every replica on node 3 caught up with its leader", 60*time.Second, func() bool {
		for _, sh := range c.status(1).Shards {
			for _, r := range sh.Replicas {
				if r.NodeId == 3 && (r.Health != "healthy" || r.Lag != 0 || (sh.Partitions > 0 && r.AppliedIndex == 0)) {
					behind = fmt.Sprintf("shard %d: %v", sh.ShardId, r)
					return false
				}
			}
		}
		return true
	})
	c.nodes[1].stop()
	delete(c.nodes, 1)
	checkNothingLost(t, acked, drainAll(t, client.New(c.endpoints()), "ledger"))
}

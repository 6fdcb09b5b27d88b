package node

import (
	"fmt"

	"github.com/lni/vfs"

	"github.com/wharfmq/wharf/core/logrepair"
)

// repairRaftLogs cuts a torn tail off each replica's newest Raft log before
// dragonboat opens the logs (a power loss during an append, or soon after a
// clean stop, which does not fsync the log tan closes, can leave one), and
// logs one line per log cut. Without it tan's index points into the lost
// bytes and every start panics reading the replica's state. The bytes cut
// were never fsynced, so this replica never acknowledged them; the leader
// sends the replica what it lacks. Damage before the last whole record is
// corruption, not a torn tail: the node refuses to start, naming the file.
func (n *Node) repairRaftLogs(fs vfs.FS, nhDir string) error {
	repairs, err := logrepair.RepairTornTails(fs, nhDir)
	for _, r := range repairs {
		if r.Cut() {
			n.log.Warn("cut a torn tail off a Raft log", "file", r.File,
				"dropped_from", r.From, "dropped_to", r.To, "bytes", r.To-r.From,
				"reason", r.Reason, "index_removed", r.IndexRemoved)
		} else {
			n.log.Warn("removed a Raft log's index for tan to rebuild", "file", r.IndexRemoved,
				"reason", r.IndexReason, "log", r.File, "log_bytes", r.To)
		}
	}
	if err != nil {
		return fmt.Errorf("check Raft logs in %s: %w", nhDir, err)
	}
	return nil
}

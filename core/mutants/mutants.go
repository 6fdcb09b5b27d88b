// Package mutants lists the bugs planted in the production code behind
// failpoints (github.com/pingcap/failpoint), so that the simulator can prove
// its checkers catch them: `make sim-mutants` enables each in turn, as
// "return(true)", and expects some seed to fail.
//
// A planted bug is a failpoint.Inject marker. In the committed tree the
// markers are calls of empty functions, which the compiler removes: no
// production build carries a planted bug. `make failpoints-enable` rewrites
// the markers under core/ into live checks (failpoint-ctl); `make
// failpoints-disable` restores the files. Only then does Enable have any
// effect; Rewritten tells whether a package was rewritten.
//
// Only ever enable a mutant with the term "return(true)" (Term): failpoint's
// probabilistic terms draw from a generator seeded with the wall clock, which
// would make a simulated run unrepeatable.
package mutants

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pingcap/failpoint"
)

// The marker names. A failpoint's full name is its package's import path, a
// slash, and the marker name (see Mutant.Failpoint).
const (
	QueueAcceptStaleHandle  = "queue-accept-stale-handle"
	QueueIgnoreVisibility   = "queue-ignore-visibility"
	QueueFIFOSkipHead       = "queue-fifo-skip-head"
	QueueForgetDedup        = "queue-forget-dedup"
	QueueForgetRequestID    = "queue-forget-request-id"
	QueueDLQDuplicate       = "queue-dlq-duplicate"
	QueueDLQDrop            = "queue-dlq-drop"
	QueueDeleteWrongMessage = "queue-delete-wrong-message"
	NodeAckBeforeCommit     = "node-ack-before-commit"
	ShardSnapshotMisses     = "shard-snapshot-misses-entries"
	ShardSkipSync           = "shard-skip-sync"
	ShardRecoverDropsDedup  = "shard-recover-drops-dedup"
)

// Term is the only failpoint term a mutant is enabled with.
const Term = "return(true)"

const module = "github.com/wharfmq/wharf/"

// Mutant is one planted bug.
type Mutant struct {
	Name    string // the marker name, one of the constants above
	Package string // import path of the package holding the marker
	What    string // the broken behaviour, in one line
	Checker string // the check expected to catch it
}

// Failpoint is the name failpoint.Enable takes.
func (m Mutant) Failpoint() string { return m.Package + "/" + m.Name }

// All lists every planted bug. Checker names: "fifo", "standard" and
// "total" are the linearizability checkers of that name, "replicas" compares
// replica hashes, "invariants" is queue.CheckInvariants on every replica,
// "durability" is the simulator's check that acknowledged sends survive
// crashes and power loss.
var All = []Mutant{
	{QueueAcceptStaleHandle, module + "core/queue",
		"a delete or visibility change with a stale receipt handle (the message was received again since) succeeds",
		"fifo, standard (stale handles are not accepted)"},
	{QueueIgnoreVisibility, module + "core/queue",
		"a receive also delivers in-flight messages whose visibility timeout has not passed",
		"standard, fifo (delivered while leased)"},
	{QueueFIFOSkipHead, module + "core/queue",
		"a FIFO receive skips the head of a group that has more than one message",
		"fifo (strict order)"},
	{QueueForgetDedup, module + "core/queue",
		"FIFO deduplication records are ignored: a resend with the same deduplication id is stored again",
		"fifo, total (one logical send stored twice)"},
	{QueueForgetRequestID, module + "core/queue",
		"request-id records are ignored: a send retried after a timeout is stored again",
		"total (one logical send stored twice)"},
	{QueueDLQDuplicate, module + "core/queue",
		"a dead-letter move copies the message to the outbox but leaves it in the source queue, in flight",
		"total (delivered from both queues), invariants of the drained state"},
	{QueueDLQDrop, module + "core/queue",
		"a dead-letter move removes the message from the source without writing its outbox entry: it is lost",
		"total (an acknowledged send never comes out)"},
	{QueueDeleteWrongMessage, module + "core/queue",
		"a delete with a valid handle for seq n removes message n+1 instead (when there is one)",
		"standard, fifo, total (a deleted message comes back, another is lost)"},
	{NodeAckBeforeCommit, module + "core/node",
		"SendMessage answers success before its proposal commits (the proposal runs in the background and may fail)",
		"durability, total (acknowledged send lost), standard/fifo (a receive after the ack misses it)"},
	{ShardSnapshotMisses, module + "core/shard",
		"a queue shard snapshot leaves out its last 2 message records",
		"replicas (hash differs after a recovery), invariants"},
	{ShardSkipSync, module + "core/shard",
		"QueueSM.Sync does nothing, so a power loss after log compaction loses applied entries",
		"durability, total (acknowledged send lost after power loss)"},
	{ShardRecoverDropsDedup, module + "core/shard",
		"a replica recovering a snapshot drops the dedup records, so after a leader change resends are stored twice",
		"replicas (hash differs), fifo/total (deduplication)"},
}

// byName returns the mutant with the marker name or full failpoint name.
func byName(name string) (Mutant, bool) {
	for _, m := range All {
		if m.Name == name || m.Failpoint() == name {
			return m, true
		}
	}
	return Mutant{}, false
}

// Enable turns the planted bug on (with Term). It has an effect only in a
// rewritten tree (see Rewritten).
func Enable(name string) error {
	m, ok := byName(name)
	if !ok {
		return fmt.Errorf("mutants: no planted bug %q", name)
	}
	return failpoint.Enable(m.Failpoint(), Term)
}

// Disable turns the planted bug off; disabling one that is off is not an error.
func Disable(name string) error {
	m, ok := byName(name)
	if !ok {
		return fmt.Errorf("mutants: no planted bug %q", name)
	}
	if _, err := failpoint.Status(m.Failpoint()); err != nil {
		return nil // not enabled
	}
	return failpoint.Disable(m.Failpoint())
}

// bindingFile is the file failpoint-ctl adds to every package it rewrites.
const bindingFile = "binding__failpoint_binding__.go"

// Rewritten reports whether failpoint-ctl rewrote the package in dir (a
// test's working directory is its package's: Rewritten(".")). Enabling a
// failpoint in a package that was not rewritten has no effect.
func Rewritten(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, bindingFile))
	return err == nil
}

package queue

import (
	"fmt"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// FIFO groups. A group is available, and then filed in the ready index, when
// it has messages, none of them is in flight, and its first message is
// visible. Receives take groups from the ready index, so a group with a
// message in flight is never served: that is what keeps each group in order.

func (a *applier) getGroup(p uint64, group string) (*raftv1.GroupState, error) {
	g := &raftv1.GroupState{}
	if _, err := getRecord(a.tx, groupKey(p, group), g); err != nil {
		return nil, err
	}
	return g, nil
}

// groupIdleMs is how long an empty group's record is kept before a Tick
// deletes it (if the group is still empty then).
const groupIdleMs = 60_000

// putGroup saves g. An empty group's record is kept, filed in the idle
// index, and a Tick deletes it groupIdleMs later if the group is still
// empty. Deleting it at once, as the group empties, would put a tombstone
// on top of the versions the record gathered in the store's memtable, and
// a group that gets a message again soon (the common case) would read
// through all of them on every later command until a flush.
func (a *applier) putGroup(p *partition, group string, g *raftv1.GroupState) error {
	if groupEmpty(g) && g.IdleAtMs == 0 {
		g.IdleAtMs = a.now + groupIdleMs
		if err := a.file(p, pGroupIdle, groupIdleKey(p.id, g.IdleAtMs, group), nil); err != nil {
			return err
		}
	}
	return putRecord(a.tx, groupKey(p.id, group), g)
}

func groupEmpty(g *raftv1.GroupState) bool {
	return g.Messages == 0 && g.InFlight == 0 && g.ReadySeq == 0
}

// expireIdleGroups handles up to limit due entries of the idle index: the
// record of a group still empty is deleted, and a group that got messages
// since is taken out of the index (putGroup files it again when it next
// empties).
func (a *applier) expireIdleGroups(p *partition, limit int) error {
	keys, _, err := a.scanIndex(p, pGroupIdle, timedUpTo(pGroupIdle, p.id, a.now), limit)
	if err != nil {
		return err
	}
	for _, k := range keys {
		group := string(k[17:])
		if err := a.tx.Delete(k); err != nil {
			return err
		}
		g, err := a.getGroup(p.id, group)
		if err != nil {
			return err
		}
		if g.IdleAtMs != timeOf(k) {
			return fmt.Errorf("partition %d: idle entry of group %q at %d, but the group says %d", p.id, group, timeOf(k), g.IdleAtMs)
		}
		if groupEmpty(g) {
			if err := a.tx.Delete(groupKey(p.id, group)); err != nil {
				return err
			}
			continue
		}
		g.IdleAtMs = 0
		if err := putRecord(a.tx, groupKey(p.id, group), g); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) addGroupInFlight(p *partition, group string, delta int64) error {
	g, err := a.getGroup(p.id, group)
	if err != nil {
		return err
	}
	g.InFlight += delta
	return a.refileGroup(p, group, g)
}

// groupScan returns up to limit seqs of the group's messages in order,
// starting at the group's floor, which it raises (the caller saves g).
func (a *applier) groupScan(p uint64, group string, g *raftv1.GroupState, limit int) ([]uint64, error) {
	start := groupPrefix(p, group)
	floor := []byte(nil)
	if g.FloorSeq != 0 {
		floor = groupMessageKey(p, group, g.FloorSeq)
	}
	keys, _, err := scanFrom(a.tx, start, &floor, prefixEnd(start), limit)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(keys))
	for i, k := range keys {
		seqs[i] = seqOf(k)
	}
	if len(seqs) > 0 {
		g.FloorSeq = seqs[0]
	}
	return seqs, nil
}

// groupHead returns the group's first message, or nil.
func (a *applier) groupHead(p uint64, group string, g *raftv1.GroupState) (*raftv1.StoredMessage, error) {
	seqs, err := a.groupScan(p, group, g, 1)
	if err != nil || len(seqs) == 0 {
		return nil, err
	}
	return a.getMessage(p, seqs[0])
}

// refreshGroup files the group in the ready index or takes it out, as its
// availability now requires.
func (a *applier) refreshGroup(p *partition, group string) error {
	g, err := a.getGroup(p.id, group)
	if err != nil {
		return err
	}
	return a.refileGroup(p, group, g)
}

// refileGroup is refreshGroup for a group state the caller has loaded and
// changed: it files or unfiles the group and saves g once.
func (a *applier) refileGroup(p *partition, group string, g *raftv1.GroupState) error {
	var err error
	available := false
	var head *raftv1.StoredMessage
	if g.InFlight == 0 && g.Messages > 0 {
		if head, err = a.groupHead(p.id, group, g); err != nil {
			return err
		}
		available = head != nil && head.State == raftv1.MessageState_MESSAGE_STATE_VISIBLE
	}
	switch filed := g.ReadySeq != 0; {
	case available && !filed:
		g.ReadyAtMs, g.ReadySeq = max(head.ReadyAtMs, 0), head.Seq
		if err := a.file(p, pReady, timedKey(pReady, p.id, g.ReadyAtMs, g.ReadySeq), []byte(group)); err != nil {
			return err
		}
		a.wake(p.id)
	case !available && filed:
		if err := a.tx.Delete(timedKey(pReady, p.id, g.ReadyAtMs, g.ReadySeq)); err != nil {
			return err
		}
		g.ReadyAtMs, g.ReadySeq = 0, 0
	}
	// Saved even when only the floor moved.
	return a.putGroup(p, group, g)
}

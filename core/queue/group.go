package queue

import (
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

// putGroup saves g, or deletes it once the group is empty.
func (a *applier) putGroup(p uint64, group string, g *raftv1.GroupState) error {
	if g.Messages == 0 && g.InFlight == 0 && g.ReadySeq == 0 {
		return a.tx.Delete(groupKey(p, group))
	}
	return putRecord(a.tx, groupKey(p, group), g)
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
	return a.putGroup(p.id, group, g)
}

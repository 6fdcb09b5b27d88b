// Package meta is the metadata state machine: queues, their attributes, and
// the placement of queue partitions on queue shards. It is pure: Apply takes
// time only from the command.
package meta

import (
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// State is the whole metadata state, held in memory (it is small: one record
// per queue and per shard).
type State struct {
}

// New returns an empty State.
func New() *State { panic("TODO") }

// Apply applies cmd and returns its result. It never fails: semantic errors
// are in the result's status.
func (s *State) Apply(cmd *raftv1.MetaCommand) *raftv1.MetaResult { panic("TODO") }

// Queue returns the named queue; nil if there is none. The record is shared:
// callers must not modify it.
func (s *State) Queue(name string) *raftv1.QueueRecord { panic("TODO") }

// List returns up to limit queue names with prefix, after the name after, in
// order, and whether more follow.
func (s *State) List(prefix, after string, limit int) (names []string, more bool) { panic("TODO") }

// Shards returns the registered queue shards in shard id order.
func (s *State) Shards() []*raftv1.ShardRecord { panic("TODO") }

// Marshal encodes the state deterministically, for snapshots.
func (s *State) Marshal() ([]byte, error) { panic("TODO") }

// Unmarshal replaces the state with a snapshot made by Marshal.
func (s *State) Unmarshal(data []byte) error { panic("TODO") }

// Package core holds Wharf's queue semantics. Its subpackages:
//
//   - queue: the queue shard state machine. Pure: it reads and writes a
//     kv.Txn and takes time only from the command it applies.
//   - meta: the metadata state machine (queues, attributes, placement). Pure.
//   - kv: the ordered key-value interface the state machines run on, and its
//     Pebble implementation.
//   - shard: adapters that run queue and meta as dragonboat state machines.
//   - node: one Wharf node: dragonboat NodeHost, proposals, long polling and
//     background work; it implements the wharf.v1.QueueService API.
//
// This package itself holds what they share: the error type and the limits.
package core

package meta

import (
	"github.com/wharfmq/wharf/core"
	"slices"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
	"google.golang.org/protobuf/proto"
)

// maxPartitions bounds the partitions of one queue, so that a CreateQueue
// does bounded work (one placement decision and one id per partition). It
// is the API's limit: a proposal that skipped validation gets no more.
const maxPartitions = core.MaxPartitions

const (
	codeInvalid       = raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	codeNotFound      = raftv1.ErrorCode_ERROR_CODE_NOT_FOUND
	codeAlreadyExists = raftv1.ErrorCode_ERROR_CODE_ALREADY_EXISTS
	codePrecondition  = raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION
	codeExhausted     = raftv1.ErrorCode_ERROR_CODE_RESOURCE_EXHAUSTED
)

func (s *State) createQueue(c *raftv1.CreateQueue) *raftv1.MetaResult {
	name, attrs := c.GetName(), c.GetAttributes()
	if name == "" {
		return failure(codeInvalid, "name: must not be empty")
	}
	if attrs == nil {
		return failure(codeInvalid, "attributes: missing")
	}
	// An existing queue is checked first so that a retried create succeeds
	// even when the cluster has since filled up or the request's other
	// checks would now fail.
	if old := s.queues[name]; old != nil {
		if !proto.Equal(old.GetAttributes(), attrs) {
			return failure(codeAlreadyExists, "queue %q already exists with different attributes", name)
		}
		return &raftv1.MetaResult{Queue: cloneRecord(old)}
	}
	if res := s.checkDeadLetter(name, attrs); res != nil {
		return res
	}
	partitions := int(c.GetPartitions())
	if partitions <= 0 {
		partitions = 1
	}
	if partitions > maxPartitions {
		return failure(codeInvalid, "partitions: must be at most %d, got %d", maxPartitions, partitions)
	}
	if len(s.queues) >= s.maxQueues {
		return failure(codeExhausted, "the cluster already holds the maximum of %d queues", s.maxQueues)
	}
	if !s.hasQueueShard() {
		return failure(codePrecondition, "no queue shards are registered")
	}

	rec := &raftv1.QueueRecord{
		Name:       name,
		QueueId:    s.takeID(),
		Attributes: cloneAttributes(attrs),
		CreatedMs:  s.clock,
		ModifiedMs: s.clock,
		Partitions: make([]*raftv1.Placement, 0, partitions),
	}
	taken := map[uint64]bool{}
	for range partitions {
		shard := s.place(taken)
		taken[shard] = true
		rec.Partitions = append(rec.Partitions, &raftv1.Placement{
			PartitionId: s.takeID(),
			ShardId:     shard,
		})
	}
	s.insert(rec)
	return &raftv1.MetaResult{Queue: cloneRecord(rec)}
}

func (s *State) updateQueue(u *raftv1.UpdateQueue) *raftv1.MetaResult {
	name, attrs := u.GetName(), u.GetAttributes()
	old := s.queues[name]
	if old == nil {
		return failure(codeNotFound, "queue %q does not exist", name)
	}
	if attrs == nil {
		return failure(codeInvalid, "attributes: missing")
	}
	// The proposer merged its changes into the record it read; applying
	// them to any other record would undo whatever changed it since.
	if want := u.GetExpectedQueueId(); want != 0 && want != old.GetQueueId() {
		return failure(codePrecondition, "queue %q changed concurrently: it was deleted and re-created", name)
	}
	if want := u.GetExpectedModifiedMs(); want != 0 && want != old.GetModifiedMs() {
		return failure(codePrecondition, "queue %q changed concurrently: modified at %d, expected %d",
			name, old.GetModifiedMs(), want)
	}
	if attrs.GetFifo() != old.GetAttributes().GetFifo() {
		return failure(codeInvalid, "fifo: cannot change once the queue %q is created", name)
	}
	if res := s.checkDeadLetter(name, attrs); res != nil {
		return res
	}
	// Copy-on-write: readers may hold the old record.
	rec := cloneRecord(old)
	rec.Attributes = cloneAttributes(attrs)
	// Strictly increasing, even for two updates in the same millisecond:
	// expected_modified_ms relies on every update changing the stamp.
	rec.ModifiedMs = max(s.clock, old.GetModifiedMs()+1)
	s.queues[name] = rec
	return &raftv1.MetaResult{Queue: cloneRecord(rec)}
}

func (s *State) deleteQueue(d *raftv1.DeleteQueue) *raftv1.MetaResult {
	name := d.GetName()
	rec := s.queues[name]
	if rec == nil {
		return failure(codeNotFound, "queue %q does not exist", name)
	}
	s.remove(rec)
	// The partitions' data is dropped later, from the pending list: a
	// crash of the proposer after this command loses nothing.
	s.addPendingDrops(rec.GetPartitions())
	res := &raftv1.MetaResult{}
	for _, p := range rec.GetPartitions() {
		res.Dropped = append(res.Dropped, proto.CloneOf(p))
	}
	return res
}

// checkDeadLetter checks the dead-letter queue named in attrs for the queue
// called name: it must exist, be of the same kind, and not be the queue
// itself. It returns nil when attrs names none or the check passes.
func (s *State) checkDeadLetter(name string, attrs *raftv1.QueueAttributes) *raftv1.MetaResult {
	const field = "redrive_policy.dead_letter_queue"
	dlq := attrs.GetDeadLetterQueue()
	if dlq == "" {
		return nil
	}
	if dlq == name {
		return failure(codeInvalid, "%s: queue %q cannot be its own dead-letter queue", field, name)
	}
	target := s.queues[dlq]
	if target == nil {
		return failure(codeInvalid, "%s: queue %q does not exist", field, dlq)
	}
	if target.GetAttributes().GetFifo() != attrs.GetFifo() {
		return failure(codeInvalid, "%s: queue %q is %s, but the queue %q is %s; both must be of the same kind",
			field, dlq, kind(target.GetAttributes().GetFifo()), name, kind(attrs.GetFifo()))
	}
	return nil
}

func kind(fifo bool) string {
	if fifo {
		return "a FIFO queue"
	}
	return "a standard queue"
}

// takeID returns the next id from the shared counter. Ids are never reused,
// so a re-created queue shares nothing with its predecessor.
func (s *State) takeID() uint64 {
	id := s.nextID
	s.nextID++
	return id
}

// insert stores a new record. Its partitions were counted as they were
// placed.
func (s *State) insert(rec *raftv1.QueueRecord) {
	s.queues[rec.GetName()] = rec
	i, _ := slices.BinarySearch(s.names, rec.GetName())
	s.names = slices.Insert(s.names, i, rec.GetName())
}

// remove forgets a stored record and uncounts its partitions.
func (s *State) remove(rec *raftv1.QueueRecord) {
	delete(s.queues, rec.GetName())
	if i, ok := slices.BinarySearch(s.names, rec.GetName()); ok {
		s.names = slices.Delete(s.names, i, i+1)
	}
	for _, p := range rec.GetPartitions() {
		if s.load[p.GetShardId()]--; s.load[p.GetShardId()] <= 0 {
			delete(s.load, p.GetShardId())
		}
	}
}

func cloneRecord(r *raftv1.QueueRecord) *raftv1.QueueRecord { return proto.CloneOf(r) }

func cloneAttributes(a *raftv1.QueueAttributes) *raftv1.QueueAttributes { return proto.CloneOf(a) }

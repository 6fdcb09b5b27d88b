package queue

import "testing"

// ready reads Ready for the queue's partition as a long poll would.
func (s *shard) ready(cfg interface{ GetPartitionId() uint64 }) bool {
	s.t.Helper()
	st, err := Partition(s.db, cfg.GetPartitionId())
	if err != nil {
		s.t.Fatal(err)
	}
	ok, err := Ready(s.db, cfg.GetPartitionId(), st)
	if err != nil {
		s.t.Fatal(err)
	}
	return ok
}

func TestReady(t *testing.T) {
	s := newShard(t)
	std, fifo := standardQueue(1), fifoQueue(2)
	if s.ready(std) || s.ready(fifo) {
		t.Fatal("partitions that hold nothing are ready")
	}
	s.send(std, entry("a"))
	if !s.ready(std) {
		t.Fatal("a visible message is not ready")
	}
	s.receive(std, 10, 30)
	if s.ready(std) {
		t.Fatal("a message in flight is ready")
	}
	s.advance(31)
	if s.ready(std) {
		t.Fatal("a lease that ended is ready before a receive or Tick makes it visible")
	}
	s.tick()
	if !s.ready(std) {
		t.Fatal("a message whose lease ended is not ready after a Tick")
	}

	// FIFO: the group's next message waits behind the one in flight.
	s.send(fifo, fifoEntry("g", "1"), fifoEntry("g", "2"))
	if !s.ready(fifo) {
		t.Fatal("an available group is not ready")
	}
	got := s.receive(fifo, 1, 30)
	if v, _, _ := s.counts(fifo); len(got) != 1 || v != 1 {
		t.Fatalf("received %v, %d visible", bodies(got), v)
	}
	if s.ready(fifo) {
		t.Fatal("a group held by a message in flight is ready")
	}
	s.del(fifo, leaseOf(got[0]))
	if !s.ready(fifo) {
		t.Fatal("the group is not ready after its message in flight was deleted")
	}
}

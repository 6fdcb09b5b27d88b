package queue

import "testing"

// BenchmarkSteadyState measures one send, receive and delete cycle on a
// partition that has already served b.N messages: the cost per cycle must
// not grow with the tombstones that earlier cycles left behind.
func BenchmarkSteadyState(b *testing.B) {
	for _, fifo := range []bool{false, true} {
		name := "standard"
		if fifo {
			name = "fifo"
		}
		b.Run(name, func(b *testing.B) {
			s := newShard(&testing.T{})
			s.skipChecks = true
			q := standardQueue(1)
			if fifo {
				q = fifoQueue(1)
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e := entry("payload")
				if fifo {
					e = fifoEntry("g", "payload")
				}
				s.send(q, e)
				m := s.receive(q, 1, 30)
				if len(m) != 1 {
					b.Fatalf("cycle %d received %d", i, len(m))
				}
				s.del(q, leaseOf(m[0]))
				s.advance(0.001)
			}
		})
	}
}

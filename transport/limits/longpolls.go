package limits

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// longPollRetry is the retry hint of a refused long poll: slots free as
// polls end, which takes up to their wait (20 s at most), so there is no
// exact time; a second spreads the retries without idling the client long.
const longPollRetry = time.Second

// LongPolls caps the long polls waiting at once: on the node, and per
// principal (or client address, see ClientKey). core/node asks it before a
// receive waits (node.Config.LongPolls).
type LongPolls struct {
	max, perClient int

	mu       sync.Mutex
	total    int
	byClient map[string]int
}

// NewLongPolls returns a cap of max long polls on the node and perClient
// per principal; 0 leaves either unbounded.
func NewLongPolls(max, perClient int) (*LongPolls, error) {
	if max < 0 || perClient < 0 {
		return nil, fmt.Errorf("long poll caps must be 0 (none) or positive, got %d and %d per principal", max, perClient)
	}
	return &LongPolls{max: max, perClient: perClient, byClient: make(map[string]int)}, nil
}

// Admit reserves a slot for a long poll of ctx's client, or refuses with
// resource_exhausted. release gives the slot back; call it once.
func (l *LongPolls) Admit(ctx context.Context) (release func(), err error) {
	key := ClientKey(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, exhausted(longPollRetry, "the node has %d long polls waiting, the most it allows; retry", l.total)
	}
	if l.perClient > 0 && key != "" && l.byClient[key] >= l.perClient {
		return nil, exhausted(longPollRetry, "%d long polls of this client are waiting, the most one may have; retry", l.byClient[key])
	}
	l.total++
	if key != "" {
		l.byClient[key]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if key == "" {
				return
			}
			// Forget clients without polls: the map holds only those
			// waiting now.
			if l.byClient[key]--; l.byClient[key] <= 0 {
				delete(l.byClient, key)
			}
		})
	}, nil
}

// Waiting reports the long polls waiting now (for tests and status).
func (l *LongPolls) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

package queue

import "fmt"

// errMissing reports an index entry whose message is gone: the indexes and
// the messages disagree, which Apply must never allow.
func errMissing(p, seq uint64, index string) error {
	return fmt.Errorf("partition %d: %s names missing message %d", p, index, seq)
}

package shard

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

// fuzzHangBound is how long one fuzz input may run while fuzzing.
const fuzzHangBound = 10 * time.Second

// guardHang makes an input still running after fuzzHangBound crash the
// fuzz worker, which saves it as a failing input: bad bytes must not make
// a decoder or a command spin. Only while fuzzing (-fuzz): the seed runs
// of go test assert nothing about time.
func guardHang(t *testing.T) {
	if f := flag.Lookup("test.fuzz"); f == nil || f.Value.String() == "" {
		return
	}
	name := t.Name()
	timer := time.AfterFunc(fuzzHangBound, func() {
		panic(fmt.Sprintf("%s: one input ran for over %v", name, fuzzHangBound))
	})
	t.Cleanup(func() { timer.Stop() })
}

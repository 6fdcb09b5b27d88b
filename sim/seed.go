package sim

import (
	"math/rand"
	"reflect"
	"sync"
	"unsafe"

	"github.com/lni/goutils/random"
)

// reseedDragonboat reseeds dragonboat's process-wide random source (Raft
// election timeouts, snapshot scheduling), which it seeds from the pid and
// the wall clock and exposes no way to set. Without it the same seed elects
// different leaders. Its fields are unexported, so they are reached by
// reflection: if a dragonboat upgrade renames them this panics at once
// rather than silently losing determinism.
var reseedMu sync.Mutex

func reseedDragonboat(seed uint64) {
	reseedMu.Lock()
	defer reseedMu.Unlock()
	r := reflect.ValueOf(random.LockGuardedRand).Elem()
	mu := r.FieldByName("mu")
	src := r.FieldByName("source")
	if !mu.IsValid() || !src.IsValid() {
		panic("sim: goutils/random.LockedRand no longer has fields mu and source")
	}
	lock := (*sync.Mutex)(unsafe.Pointer(mu.UnsafeAddr()))
	lock.Lock()
	defer lock.Unlock()
	reflect.NewAt(src.Type(), unsafe.Pointer(src.UnsafeAddr())).Elem().
		Set(reflect.ValueOf(rand.New(rand.NewSource(int64(seed)))))
}

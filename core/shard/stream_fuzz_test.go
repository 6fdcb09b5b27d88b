package shard

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/wharfmq/wharf/core/queue"
)

// FuzzQueueSnapshot recovers a queue shard from a fuzzed snapshot stream.
//
// With sealed false the input is the stream itself, as a damaged snapshot
// file would be: recovery must refuse it with an error unless it is a
// whole stream whose count and checksum hold, and never panic.
//
// With sealed true the input's records are written again as a stream
// whose count and checksum hold (reseal): what a peer with a damaged store
// would send. Whatever the records hold, recovery, the queries, applying
// commands and checking the invariants must not panic (they may refuse
// with errors).
func FuzzQueueSnapshot(f *testing.F) {
	s, _, leases := fuzzQueueSM(f)
	var stream bytes.Buffer
	if err := saveStream(s.db, &stream, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(stream.Bytes(), false)
	f.Add(stream.Bytes(), true)
	f.Add([]byte(streamMagic), false)
	f.Add(stream.Bytes()[:stream.Len()-1], false)
	cmds := append(fuzzQueueSeeds(leases), fuzzPrelude()...)
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		guardHang(t)
		in := data
		if sealed {
			var buf bytes.Buffer
			if err := reseal(&buf, data); err != nil {
				t.Fatal(err)
			}
			in = buf.Bytes()
		}
		s, _ := openQueueSM(t, vfs.NewMem(), QueueHooks{})
		if err := s.RecoverFromSnapshot(bytes.NewReader(in), nil); err != nil {
			return
		}
		for _, q := range []any{ShardStateQuery{}, PartitionsQuery{PartitionIDs: []uint64{101, 102, 109}},
			ReceivableQuery{PartitionIDs: []uint64{101, 102}}, NextWakeQuery{}, OutboxQuery{Limit: 10}} {
			_, _ = s.Lookup(q)
		}
		_ = queue.CheckInvariants(s.db)
		st, err := queue.ShardState(s.db)
		if err != nil {
			return
		}
		index := st.GetAppliedIndex()
		for _, cmd := range cmds {
			index++
			if _, err := s.Update([]sm.Entry{{Index: index, Cmd: cmd}}); err != nil {
				t.Logf("entry %d on the recovered state: %v", index, err)
			}
		}
	})
}

// reseal writes the records of the stream in data (its header as it is,
// then records up to the first that does not parse) as a stream with a
// true count and checksum, so that the fuzzer's changes to keys and values
// reach the recovery behind the checksum.
func reseal(w *bytes.Buffer, data []byte) error {
	if len(data) < len(streamMagic) {
		w.Write(data)
		return nil
	}
	sw := &streamWriter{w: bufio.NewWriter(w), h: crc32.New(castagnoli)}
	if err := sw.write(data[:len(streamMagic)]); err != nil {
		return err
	}
	data = data[len(streamMagic):]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, false
		}
		v := data[k : k+int(n)]
		data = data[k+int(n):]
		return v, true
	}
	for len(data) > 0 && data[0] == tagRecord {
		data = data[1:]
		key, ok := field()
		if !ok {
			break
		}
		value, ok := field()
		if !ok {
			break
		}
		if err := sw.Record(key, value); err != nil {
			return err
		}
	}
	return sw.Finish()
}

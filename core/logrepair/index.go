package logrepair

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lni/vfs"
)

// tan's index file (dragonboat internal/tan/node_states.go and index.go)
// is a record file like a log: one record holding the number of replicas
// (a uvarint), then four records per replica: its shard and replica ids,
// its entries index, its snapshot index and its state index. Each index is
// a uvarint count, then per entry five uvarints (first and last Raft index
// or a flag, log file number, offset of the record in that log, a length
// tan leaves 0), then a uvarint compactedTo. tan writes it whole (a
// temporary file, fsynced, renamed) when it closes a log, and reads a
// replica's entries, state and snapshot at the offsets it names.

// indexedOffsets returns the offsets in log file number logNum that the
// index file at path names. An error means the index cannot be read.
func indexedOffsets(fs vfs.FS, path string, logNum uint64) ([]int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	var recs [][]byte
	tail, err := scan(f, fi.Size(), func(_ int64, payload []byte) {
		recs = append(recs, bytes.Clone(payload))
	}, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tail.Torn() {
		return nil, fmt.Errorf("%s: torn at %d (%s)", path, tail.GoodEnd, tail.Reason)
	}
	offsets, err := decodeIndex(recs, logNum)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return offsets, nil
}

var errBadIndex = errors.New("not a tan index")

func decodeIndex(recs [][]byte, logNum uint64) ([]int64, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no records", errBadIndex)
	}
	replicas, err := uvarints(recs[0], 1)
	if err != nil {
		return nil, err
	}
	if want := 1 + 4*replicas[0]; uint64(len(recs)) != want {
		return nil, fmt.Errorf("%w: %d records for %d replicas", errBadIndex, len(recs), replicas[0])
	}
	var offsets []int64
	for i := uint64(0); i < replicas[0]; i++ {
		for _, rec := range recs[2+4*i : 5+4*i] { // entries, snapshot, state
			d := rec
			n, m := binary.Uvarint(d)
			if m <= 0 {
				return nil, fmt.Errorf("%w: bad entry count", errBadIndex)
			}
			d = d[m:]
			for j := uint64(0); j < n; j++ {
				e, err := uvarints(d, 5)
				if err != nil {
					return nil, err
				}
				for k := 0; k < 5; k++ {
					_, m := binary.Uvarint(d)
					d = d[m:]
				}
				if e[2] == logNum {
					offsets = append(offsets, int64(e[3]))
				}
			}
		}
	}
	return offsets, nil
}

// uvarints decodes the first n uvarints of b.
func uvarints(b []byte, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		v, m := binary.Uvarint(b)
		if m <= 0 {
			return nil, fmt.Errorf("%w: bad uvarint", errBadIndex)
		}
		out[i], b = v, b[m:]
	}
	return out, nil
}

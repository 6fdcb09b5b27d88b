// Package logrepair finds and cuts a torn tail off the Raft log before
// dragonboat opens it.
//
// Wharf's Raft log is dragonboat's tan: one directory per replica, holding
// numbered log files (000002.log, 000003.log, ...), an index file per log
// (000002.index), a MANIFEST and CURRENT. A power loss during an append can
// leave the newest log ending in part of a record. tan reads a replica's
// state through its index, and when the index names a record that is no
// longer whole, every start panics ("ReadRaftState failed: invalid chunk").
//
// Cutting such a tail is safe, and only such a tail: tan fsyncs a log
// before dragonboat acts on what it wrote (acknowledges entries to a
// leader, grants a vote), and everything up to an fsync is whole on disk
// after a power loss. A record cut short was written after the last fsync,
// so nothing in it was ever counted in a quorum by this replica; Raft's
// leader re-sends the entries the replica lacks. A damaged record followed
// by whole ones is not a torn append but corruption of synced data, which
// this package refuses to touch (ErrCorrupt).
package logrepair

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// tan's record format (dragonboat internal/tan/record.go, from Pebble's
// record package; the constants are its wire format). A file is a sequence
// of 32 KiB blocks, the last one possibly short. A block holds chunks
// packed tightly; no chunk crosses a block boundary, and fewer than
// headerSize bytes left at the end of a block are zero padding. A chunk is
//
//	checksum (4 bytes LE) | length (2 bytes LE) | type (1 byte) | payload
//
// where the checksum is the low 32 bits of xxhash64 over the type byte and
// the payload. A record is one full chunk, or a first chunk, any number of
// middle chunks and a last chunk. tan writes only these four legacy types
// (Pebble's recyclable types, 5-8, are never written).
const (
	blockSize  = 32 << 10
	headerSize = 7

	fullChunk   = 1
	firstChunk  = 2
	middleChunk = 3
	lastChunk   = 4
)

// ErrCorrupt marks a file whose damage is not a torn tail: a whole,
// checksum-valid chunk follows the first bad one, so the damage lies in
// data that was already written and synced.
var ErrCorrupt = errors.New("corrupt Raft log: a damaged record is followed by whole ones")

// ErrNotRepairable marks a torn tail this package cannot cut safely.
var ErrNotRepairable = errors.New("torn Raft log tail not repaired")

// Tail is what Scan found at the end of a record file.
type Tail struct {
	// Size is the file's size in bytes.
	Size int64
	// Records counts the whole, checksum-valid records.
	Records int
	// GoodEnd is the offset just past the last whole record: the file is
	// clean when GoodEnd == Size, and [GoodEnd, Size) is a torn tail
	// otherwise.
	GoodEnd int64
	// Reason says why the bytes from GoodEnd on are not a record (empty
	// when the file is clean).
	Reason string
}

// Torn reports whether the file ends in bytes that are not a whole record.
func (t Tail) Torn() bool { return t.GoodEnd < t.Size }

// Scan reads a tan record file of size bytes from r and finds where its
// last whole record ends. Bytes after it (a chunk cut short, a chunk whose
// checksum fails, zeros, garbage) are a torn tail when nothing after the
// first bad chunk is a whole, checksum-valid chunk; otherwise Scan returns
// an error wrapping ErrCorrupt that names the offsets.
func Scan(r io.ReaderAt, size int64) (Tail, error) {
	return scan(r, size, nil, false)
}

// visitor is called with each whole record's offset and, when asked for,
// its payload (valid only during the call).
type visitor func(start int64, payload []byte)

// scan is Scan calling visit, if not nil, for each whole record; the payload
// passed is nil unless withPayload.
func scan(r io.ReaderAt, size int64, visit visitor, withPayload bool) (Tail, error) {
	t := Tail{Size: size}
	var record []byte // the open record's payload so far, when withPayload
	buf := make([]byte, blockSize)
	recordStart := int64(-1) // offset of the open record's first chunk, -1 when none is open
	pos := int64(0)
	for pos < size {
		blockStart := pos / blockSize * blockSize
		blockEnd := min(blockStart+blockSize, size)
		block := buf[:blockEnd-blockStart]
		if _, err := r.ReadAt(block, blockStart); err != nil && !errors.Is(err, io.EOF) {
			return t, fmt.Errorf("read at %d: %w", blockStart, err)
		}
		for pos < blockEnd {
			off := int(pos - blockStart)
			if blockEnd-pos < headerSize {
				if blockEnd == size || !allZero(block[off:]) {
					return finish(t, r, recordStart, pos, "incomplete chunk header")
				}
				pos = blockEnd // zero padding at the end of a full block
				break
			}
			h, payload, ok := chunkAt(block, off)
			switch {
			case h.zero():
				return finish(t, r, recordStart, pos, "zeroed bytes where a chunk should start")
			case h.typ < fullChunk || h.typ > lastChunk:
				return finish(t, r, recordStart, pos, fmt.Sprintf("invalid chunk type %d", h.typ))
			case payload < 0:
				// The length runs past the block: at the end of the file
				// that is an append cut short; in a full block the header
				// is damaged.
				if blockEnd == size {
					return finish(t, r, recordStart, pos, "incomplete chunk")
				}
				return finish(t, r, recordStart, pos, "chunk length past its block")
			case !ok:
				return finish(t, r, recordStart, pos, "checksum mismatch")
			}
			end := pos + headerSize + int64(h.length)
			if withPayload {
				if h.typ == fullChunk || h.typ == firstChunk {
					record = record[:0]
				}
				record = append(record, block[off+headerSize:off+headerSize+int(h.length)]...)
			}
			switch h.typ {
			case fullChunk, firstChunk:
				if recordStart >= 0 {
					// A record begins while another is open: the open
					// record lost its last chunk, and this chunk is whole.
					return t, corrupt(recordStart, pos, "a record is missing its last chunk")
				}
				if h.typ == fullChunk {
					t.Records++
					t.GoodEnd = end
					if visit != nil {
						visit(pos, record)
					}
				} else {
					recordStart = pos
				}
			case middleChunk, lastChunk:
				if recordStart < 0 {
					return t, corrupt(pos, pos, "a chunk continues a record that never began")
				}
				if h.typ == lastChunk {
					t.Records++
					t.GoodEnd = end
					if visit != nil {
						visit(recordStart, record)
					}
					recordStart = -1
				}
			}
			pos = end
		}
	}
	if recordStart >= 0 {
		// The file ends inside a record whose chunks so far are whole: an
		// append of a record spanning several blocks, cut short.
		t.Reason = "record cut short after a whole chunk"
	}
	return t, nil
}

// finish ends a scan stopped by a bad chunk at pos: it searches the rest of
// the file for a whole chunk. None means a torn tail from t.GoodEnd (which
// is before pos, and before the open record's start when one is open); one
// means corruption.
//
// The search starts right after pos, even inside what the bad chunk's
// header claims as its payload: that header may be the damaged part (a
// flipped length bit can make a record swallow the whole ones after it).
// The price is that a torn chunk whose surviving payload happens to hold a
// valid chunk (a message body can be made to) is refused as corruption
// rather than cut: a node that will not start, never a synced record lost.
func finish(t Tail, r io.ReaderAt, recordStart, pos int64, reason string) (Tail, error) {
	at, found, err := findChunk(r, pos+1, t.Size)
	if err != nil {
		return t, err
	}
	if found {
		return t, corrupt(pos, at, reason)
	}
	t.Reason = reason
	if recordStart >= 0 {
		t.Reason = reason + " (inside a record spanning blocks)"
	}
	return t, nil
}

func corrupt(bad, whole int64, reason string) error {
	return fmt.Errorf("%w: %s at offset %d, whole chunk at offset %d", ErrCorrupt, reason, bad, whole)
}

// findChunk looks at every offset from 'from' to the end of the file for a
// chunk that could only have been written whole: a legacy type, a length
// inside its block and a valid checksum. Every offset, not only block
// starts, because the first bad chunk's length cannot be trusted to find
// the next one. A chance match needs 32 checksum bits and more to agree:
// negligible against the garbage a torn write leaves.
func findChunk(r io.ReaderAt, from, size int64) (int64, bool, error) {
	if from >= size {
		return 0, false, nil
	}
	buf := make([]byte, blockSize)
	for blockStart := from / blockSize * blockSize; blockStart < size; blockStart += blockSize {
		blockEnd := min(blockStart+blockSize, size)
		block := buf[:blockEnd-blockStart]
		if _, err := r.ReadAt(block, blockStart); err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("read at %d: %w", blockStart, err)
		}
		first := 0
		if from > blockStart {
			first = int(from - blockStart)
		}
		for off := first; off+headerSize <= len(block); off++ {
			if _, _, ok := chunkAt(block, off); ok {
				return blockStart + int64(off), true, nil
			}
		}
	}
	return 0, false, nil
}

type header struct {
	sum    uint32
	length uint16
	typ    byte
}

func (h header) zero() bool { return h.sum == 0 && h.length == 0 && h.typ == 0 }

// chunkAt decodes the chunk header at block[off:], which must hold at least
// headerSize bytes. payload is the payload's length, or -1 when it runs past
// the block; ok reports a legacy chunk type and a valid checksum (the type is
// checked first: it rules out most offsets without hashing).
func chunkAt(block []byte, off int) (h header, payload int, ok bool) {
	b := block[off:]
	h = header{
		sum:    binary.LittleEndian.Uint32(b[0:4]),
		length: binary.LittleEndian.Uint16(b[4:6]),
		typ:    b[6],
	}
	end := headerSize + int(h.length)
	if end > len(b) {
		return h, -1, false
	}
	ok = h.typ >= fullChunk && h.typ <= lastChunk && uint32(xxhash.Sum64(b[6:end])) == h.sum
	return h, int(h.length), ok
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

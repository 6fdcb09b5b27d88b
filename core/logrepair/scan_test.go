package logrepair

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// encode writes records as tan's writer does (internal/tan/record.go):
// chunks packed in 32 KiB blocks, a record split into first, middle and
// last chunks at block boundaries, fewer than headerSize bytes left at the
// end of a block padded with zeros. It returns the file and the offset at
// which each record starts.
func encode(records [][]byte) ([]byte, []int64) {
	var out []byte
	var starts []int64
	for _, rec := range records {
		if left := blockSize - len(out)%blockSize; left < headerSize {
			out = append(out, make([]byte, left)...)
		}
		starts = append(starts, int64(len(out)))
		first := true
		for {
			room := blockSize - len(out)%blockSize - headerSize
			n := min(room, len(rec))
			last := n == len(rec)
			typ := byte(middleChunk)
			switch {
			case first && last:
				typ = fullChunk
			case first:
				typ = firstChunk
			case last:
				typ = lastChunk
			}
			chunk := make([]byte, headerSize+n)
			chunk[6] = typ
			copy(chunk[headerSize:], rec[:n])
			binary.LittleEndian.PutUint16(chunk[4:6], uint16(n))
			binary.LittleEndian.PutUint32(chunk[0:4], uint32(xxhash.Sum64(chunk[6:])))
			out = append(out, chunk...)
			rec = rec[n:]
			first = false
			if last {
				break
			}
		}
	}
	return out, starts
}

// records returns n records of pseudo-random sizes (some spanning blocks)
// filled with pseudo-random bytes, the same for the same seed.
func records(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var recs [][]byte
	for i := 0; i < n; i++ {
		size := 1 + rng.IntN(2000)
		if i%7 == 3 {
			size = 40000 + rng.IntN(60000) // spans two to four blocks
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		recs = append(recs, b)
	}
	return recs
}

func scanBytes(t *testing.T, b []byte) (Tail, error) {
	t.Helper()
	return Scan(bytes.NewReader(b), int64(len(b)))
}

func TestScanCleanFile(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		recs := records(seed, 60)
		file, _ := encode(recs)
		tail, err := scanBytes(t, file)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if tail.Torn() || tail.Records != len(recs) || tail.GoodEnd != int64(len(file)) {
			t.Fatalf("seed %d: clean file of %d records (%d bytes) scanned as %+v", seed, len(recs), len(file), tail)
		}
	}
}

// TestScanBlockPadding checks a record ending fewer than headerSize bytes
// before a block boundary: the writer pads the rest with zeros and the next
// record starts in the next block.
func TestScanBlockPadding(t *testing.T) {
	first := make([]byte, blockSize-headerSize-3) // leaves 3 bytes in block 0
	file, starts := encode([][]byte{first, []byte("next")})
	if starts[1] != blockSize {
		t.Fatalf("second record at %d, want %d (the test's writer must pad)", starts[1], blockSize)
	}
	tail, err := scanBytes(t, file)
	if err != nil || tail.Torn() || tail.Records != 2 {
		t.Fatalf("padded file scanned as %+v, %v", tail, err)
	}
}

// TestScanTornTails cuts or spoils the end of a file the ways a power loss
// during an append can, and checks that Scan finds the end of the last
// whole record and calls the rest a torn tail.
func TestScanTornTails(t *testing.T) {
	recs := records(7, 40)
	// The last record is small (one chunk); records[-2] spans blocks.
	recs = append(recs, make([]byte, 70000), []byte("the last record"))
	file, starts := encode(recs)
	lastStart := starts[len(starts)-1]
	bigStart := starts[len(starts)-2]
	size := int64(len(file))
	garbage := make([]byte, 5000)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	flipped := bytes.Clone(file)
	flipped[size-3] ^= 0x40 // in the last record's payload: its checksum fails

	cases := []struct {
		name    string
		file    []byte
		goodEnd int64
	}{
		{"cut 7 bytes into the last record's payload", file[:size-7], lastStart},
		{"cut inside the last record's header", file[:lastStart+3], lastStart},
		{"cut right after the last record's header", file[:lastStart+headerSize], lastStart},
		{"cut inside a record spanning blocks, after whole chunks", file[:bigStart+blockSize+100], bigStart},
		{"cut at a block boundary inside a record spanning blocks", file[:(bigStart/blockSize+2)*blockSize], bigStart},
		{"zeros after the last record (preallocated space)", append(bytes.Clone(file), make([]byte, 8192)...), size},
		{"zeros in place of the last record", append(bytes.Clone(file[:lastStart]), make([]byte, 100)...), lastStart},
		{"garbage after the last record", append(bytes.Clone(file), garbage...), size},
		{"a torn prefix of the last record then garbage", append(bytes.Clone(file[:lastStart+9]), garbage...), lastStart},
		{"the last record's checksum fails", flipped, lastStart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tail, err := scanBytes(t, c.file)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if !tail.Torn() || tail.GoodEnd != c.goodEnd || tail.Size != int64(len(c.file)) {
				t.Fatalf("scanned as %+v, want a torn tail from %d to %d", tail, c.goodEnd, len(c.file))
			}
			if tail.Reason == "" {
				t.Fatalf("no reason given for the torn tail: %+v", tail)
			}
			// What remains after the cut is clean.
			again, err := scanBytes(t, c.file[:tail.GoodEnd])
			if err != nil || again.Torn() {
				t.Fatalf("after the cut: %+v, %v", again, err)
			}
		})
	}
}

// TestScanRefusesCorruption damages records followed by whole ones: that
// is synced data gone bad, not a torn append, and must not be cut.
func TestScanRefusesCorruption(t *testing.T) {
	recs := records(11, 40)
	file, starts := encode(recs)
	spoil := func(f func(b []byte)) []byte {
		b := bytes.Clone(file)
		f(b)
		return b
	}
	second := starts[1]
	bigRecord := starts[3] // records() makes every 7th from index 3 span blocks
	cases := []struct {
		name string
		file []byte
	}{
		{"a bit flipped in an early record's payload", spoil(func(b []byte) { b[second+headerSize+1] ^= 1 })},
		{"a bit flipped in an early record's length", spoil(func(b []byte) { b[second+4] ^= 0x80 })},
		{"an early record's type zeroed", spoil(func(b []byte) { b[second+6] = 0 })},
		{"an early record's header zeroed", spoil(func(b []byte) { clear(b[second : second+headerSize]) })},
		{"a block in the middle zeroed", spoil(func(b []byte) { clear(b[bigRecord/blockSize*blockSize+blockSize:][:blockSize]) })},
		{"a middle chunk's checksum spoiled", spoil(func(b []byte) { b[(bigRecord/blockSize+1)*blockSize+headerSize] ^= 1 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tail, err := scanBytes(t, c.file)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scanned as %+v, %v; want ErrCorrupt", tail, err)
			}
		})
	}
}

// TestScanRecordMissingLastChunk: a first chunk, then a full record where
// the first's continuation should be, is refused.
func TestScanRecordMissingLastChunk(t *testing.T) {
	big, _ := encode([][]byte{make([]byte, 50000)})
	small, _ := encode([][]byte{[]byte("x")})
	file := append(bytes.Clone(big[:blockSize]), small...) // first chunk, then a full one
	if _, err := scanBytes(t, file); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestScanEmptyFile(t *testing.T) {
	tail, err := scanBytes(t, nil)
	if err != nil || tail.Torn() || tail.Records != 0 {
		t.Fatalf("empty file: %+v, %v", tail, err)
	}
}

func ExampleScan() {
	file, _ := encode([][]byte{[]byte("one"), []byte("two")})
	torn := file[:len(file)-2]
	tail, _ := Scan(bytes.NewReader(torn), int64(len(torn)))
	fmt.Println(tail.Records, tail.GoodEnd, tail.Size, tail.Reason)
	// Output: 1 10 18 incomplete chunk
}

package logrepair

import (
	"bytes"
	"testing"
)

// BenchmarkScan64MiB scans a 64 MiB log (tan's largest) of 4 KiB records:
// the cost added to a start per replica with a full newest log.
func BenchmarkScan64MiB(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 4096)
	var recs [][]byte
	for range (64 << 20) / 4096 {
		recs = append(recs, rec)
	}
	file, _ := encode(recs)
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for range b.N {
		if _, err := Scan(bytes.NewReader(file), int64(len(file))); err != nil {
			b.Fatal(err)
		}
	}
}

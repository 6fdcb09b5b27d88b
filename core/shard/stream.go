package shard

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// The queue shard snapshot stream:
//
//	magic "WHARFKV1"
//	records: 0x01 uvarint(len key) key uvarint(len value) value, keys ascending
//	end:     0x00 uint64be(record count) uint32be(CRC-32C of every byte before it)
//
// The count and checksum let a recovery tell a complete stream from a
// truncated or corrupt one before it declares the recovered state good.
const (
	streamMagic  = "WHARFKV1"
	tagRecord    = 1
	tagEnd       = 0
	maxKeyLen    = 64 << 10
	maxValueLen  = 64 << 20
	streamBufLen = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// streamWriter writes the snapshot stream, checksumming as it goes.
type streamWriter struct {
	w     *bufio.Writer
	h     hash.Hash32
	count uint64
	buf   [binary.MaxVarintLen64]byte
}

func newStreamWriter(w io.Writer) (*streamWriter, error) {
	sw := &streamWriter{w: bufio.NewWriterSize(w, streamBufLen), h: crc32.New(castagnoli)}
	if err := sw.write([]byte(streamMagic)); err != nil {
		return nil, err
	}
	return sw, nil
}

func (sw *streamWriter) write(p []byte) error {
	sw.h.Write(p) // hash.Hash never returns an error
	_, err := sw.w.Write(p)
	return err
}

func (sw *streamWriter) uvarint(v uint64) error {
	n := binary.PutUvarint(sw.buf[:], v)
	return sw.write(sw.buf[:n])
}

// Record appends one key/value pair.
func (sw *streamWriter) Record(key, value []byte) error {
	if err := sw.write([]byte{tagRecord}); err != nil {
		return err
	}
	if err := sw.uvarint(uint64(len(key))); err != nil {
		return err
	}
	if err := sw.write(key); err != nil {
		return err
	}
	if err := sw.uvarint(uint64(len(value))); err != nil {
		return err
	}
	if err := sw.write(value); err != nil {
		return err
	}
	sw.count++
	return nil
}

// Finish writes the trailer and flushes.
func (sw *streamWriter) Finish() error {
	var trailer [1 + 8]byte
	trailer[0] = tagEnd
	binary.BigEndian.PutUint64(trailer[1:], sw.count)
	if err := sw.write(trailer[:]); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], sw.h.Sum32())
	if _, err := sw.w.Write(sum[:]); err != nil {
		return err
	}
	return sw.w.Flush()
}

// streamReader reads the snapshot stream, checksumming as it goes.
type streamReader struct {
	r     *bufio.Reader
	h     hash.Hash32
	count uint64
	one   [1]byte
}

// errCorrupt marks a stream that is not a valid snapshot.
var errCorrupt = errors.New("corrupt queue shard snapshot")

func newStreamReader(r io.Reader) (*streamReader, error) {
	sr := &streamReader{r: bufio.NewReaderSize(r, streamBufLen), h: crc32.New(castagnoli)}
	magic := make([]byte, len(streamMagic))
	if err := sr.read(magic); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if string(magic) != streamMagic {
		return nil, fmt.Errorf("%w: bad header %q", errCorrupt, magic)
	}
	return sr, nil
}

func (sr *streamReader) read(p []byte) error {
	if _, err := io.ReadFull(sr.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	sr.h.Write(p)
	return nil
}

// ReadByte makes streamReader an io.ByteReader for binary.ReadUvarint, so
// varints are checksummed too.
func (sr *streamReader) ReadByte() (byte, error) {
	if err := sr.read(sr.one[:]); err != nil {
		return 0, err
	}
	return sr.one[0], nil
}

// Next returns the next record; done is true at the trailer, which Next
// has then verified.
func (sr *streamReader) Next() (key, value []byte, done bool, err error) {
	tag, err := sr.ReadByte()
	if err != nil {
		return nil, nil, false, fmt.Errorf("read record tag: %w", err)
	}
	switch tag {
	case tagEnd:
		return nil, nil, true, sr.verifyTrailer()
	case tagRecord:
	default:
		return nil, nil, false, fmt.Errorf("%w: record tag %d", errCorrupt, tag)
	}
	key, err = sr.bytes(maxKeyLen)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read key of record %d: %w", sr.count, err)
	}
	value, err = sr.bytes(maxValueLen)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read value of record %d: %w", sr.count, err)
	}
	sr.count++
	return key, value, false, nil
}

func (sr *streamReader) bytes(limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(sr)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: length %d over %d", errCorrupt, n, limit)
	}
	p := make([]byte, n)
	if err := sr.read(p); err != nil {
		return nil, err
	}
	return p, nil
}

func (sr *streamReader) verifyTrailer() error {
	var count [8]byte
	if err := sr.read(count[:]); err != nil {
		return fmt.Errorf("read snapshot trailer: %w", err)
	}
	want := sr.h.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(sr.r, sum[:]); err != nil {
		return fmt.Errorf("read snapshot checksum: %w", err)
	}
	if got := binary.BigEndian.Uint64(count[:]); got != sr.count {
		return fmt.Errorf("%w: trailer says %d records, read %d", errCorrupt, got, sr.count)
	}
	if got := binary.BigEndian.Uint32(sum[:]); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x", errCorrupt, got, want)
	}
	return nil
}

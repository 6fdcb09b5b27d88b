package node

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// idSource makes message ids: random (version 4) UUIDs. The proposer makes
// them, never the state machine, which must stay deterministic.
type idSource struct {
	mu sync.Mutex // an injected reader need not be safe for concurrent use
	r  io.Reader
}

func (s *idSource) uuid() (string, error) {
	var b [16]byte
	s.mu.Lock()
	_, err := io.ReadFull(s.r, b[:])
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("read random message id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:]), nil
}

// md5Hex is the MD5 of a body as SQS reports it, for clients to check the
// body arrived intact.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

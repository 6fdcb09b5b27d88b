package peerlink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The hello opens every peer connection (after the TLS handshake, when
// there is one), and the listener answers it with an ack of the same
// layout. Both are helloSize bytes, so reading one allocates nothing that
// depends on what the other side sends:
//
//	[0:4]   magic "WPL1"
//	[4]     version (1)
//	[5]     kind (Raft or RPC; the ack repeats the hello's)
//	[6]     flags: bit 0 set when [40:72] holds a MAC
//	[7]     zero
//	[8:16]  sender's node id, big-endian (0: a node still joining; only
//	        logged, never trusted for anything)
//	[16:24] sender's clock, Unix milliseconds, big-endian
//	[24:40] random nonce
//	[40:72] HMAC-SHA256 under the peer key of [0:40]; in the ack, of
//	        [0:40] followed by the hello's nonce, so the ack is bound to
//	        the hello it answers
//
// With a cluster key and no TLS, the MAC is what proves the sender holds
// the key: a stranger's connection is closed after reading 72 bytes.
//
// What the MAC gives without TLS, and what it does not: it authenticates
// the opening of the connection in both directions (the dialer checks the
// ack's MAC, bound to its own nonce, so it knows it reached a key holder).
// A recorded hello cannot be replayed: its clock must be within
// maxClockSkew of ours, and its nonce is remembered for that long and
// refused a second time. It does not authenticate, hide or protect what
// follows the hello: someone on the path can read the Raft and RPC traffic,
// and could hijack an authenticated TCP connection and inject into it. Only
// mutual TLS (--peer-ca/--peer-cert/--peer-key) protects the stream itself.
const (
	helloSize  = 72
	macOffset  = 40
	nonceStart = 24
	nonceSize  = 16
	version    = 1
	flagMAC    = 1

	// maxClockSkew is how far a hello's clock may be from ours. Nodes
	// are expected to run NTP; a larger skew only refuses connections,
	// which the log says, never corrupts anything.
	maxClockSkew = 30 * time.Second
	// maxNonces bounds the replay cache. Only hellos with a valid MAC
	// enter it, so only key holders fill it; past the bound new
	// connections are refused until entries expire (a node opens a few
	// connections per peer, not thousands a minute).
	maxNonces = 1 << 16
)

var helloMagic = [4]byte{'W', 'P', 'L', '1'}

var (
	errBadHello  = errors.New("peerlink: bad hello")
	errBadMAC    = errors.New("peerlink: hello MAC does not match the cluster key")
	errNoMAC     = errors.New("peerlink: hello carries no MAC, but this node requires the cluster key")
	errStale     = errors.New("peerlink: hello clock too far from ours")
	errReplayed  = errors.New("peerlink: hello replayed")
	errNonceFull = errors.New("peerlink: too many recent hellos")
)

// hello is the decoded form of a hello or an ack.
type hello struct {
	kind   Kind
	mac    bool
	nodeID uint64
	unixMs int64
	nonce  [nonceSize]byte
}

// encode writes h into b (helloSize bytes), with a MAC under key (over
// bound after the fields, for an ack) when key is not nil.
func (h *hello) encode(b *[helloSize]byte, key []byte, bound []byte) {
	clear(b[:])
	copy(b[0:4], helloMagic[:])
	b[4] = version
	b[5] = byte(h.kind)
	binary.BigEndian.PutUint64(b[8:16], h.nodeID)
	binary.BigEndian.PutUint64(b[16:24], uint64(h.unixMs))
	copy(b[nonceStart:nonceStart+nonceSize], h.nonce[:])
	if key != nil {
		b[6] = flagMAC
		copy(b[macOffset:], helloMAC(key, b[:macOffset], bound))
	}
}

// decode parses b; it checks the layout, not the MAC (checkMAC does).
func decode(b *[helloSize]byte) (hello, error) {
	var h hello
	switch {
	case [4]byte(b[0:4]) != helloMagic:
		return h, fmt.Errorf("%w: magic %x", errBadHello, b[0:4])
	case b[4] != version:
		return h, fmt.Errorf("%w: version %d", errBadHello, b[4])
	case b[6]&^flagMAC != 0 || b[7] != 0:
		return h, fmt.Errorf("%w: flags %x %x", errBadHello, b[6], b[7])
	}
	h.kind = Kind(b[5])
	if h.kind != Raft && h.kind != RPC {
		return h, fmt.Errorf("%w: kind %d", errBadHello, b[5])
	}
	h.mac = b[6]&flagMAC != 0
	h.nodeID = binary.BigEndian.Uint64(b[8:16])
	h.unixMs = int64(binary.BigEndian.Uint64(b[16:24]))
	copy(h.nonce[:], b[nonceStart:nonceStart+nonceSize])
	return h, nil
}

// checkMAC reports whether b's MAC is the one key gives (over bound too,
// for an ack). The comparison takes constant time.
func checkMAC(b *[helloSize]byte, key []byte, bound []byte) bool {
	return hmac.Equal(b[macOffset:], helloMAC(key, b[:macOffset], bound))
}

func helloMAC(key, fields, bound []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(fields)
	m.Write(bound)
	return m.Sum(nil)
}

// peerKey derives the key hellos are signed with from the cluster key, so
// that the cluster key itself (which also encrypts secrets at rest) never
// signs anything an attacker can see.
func peerKey(clusterKey []byte) []byte {
	m := hmac.New(sha256.New, clusterKey)
	m.Write([]byte("wharf peerlink hello v1"))
	return m.Sum(nil)
}

// fresh checks a hello's clock against now.
func fresh(unixMs int64, now time.Time) error {
	skew := now.Sub(time.UnixMilli(unixMs))
	if skew > maxClockSkew || skew < -maxClockSkew {
		return fmt.Errorf("%w: %v apart (at most %v)", errStale, skew.Round(time.Millisecond), maxClockSkew)
	}
	return nil
}

// nonceCache remembers the nonces of recent valid hellos, to refuse a
// replayed one while its clock is still fresh.
type nonceCache struct {
	mu   sync.Mutex
	seen map[[nonceSize]byte]time.Time // nonce to when it can be forgotten
	// swept is when expired entries were last dropped.
	swept time.Time
}

// add records a nonce, failing if it was seen within maxClockSkew.
func (c *nonceCache) add(nonce [nonceSize]byte, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[[nonceSize]byte]time.Time)
	}
	if now.Sub(c.swept) > maxClockSkew || len(c.seen) >= maxNonces {
		for n, until := range c.seen {
			if now.After(until) {
				delete(c.seen, n)
			}
		}
		c.swept = now
	}
	if until, ok := c.seen[nonce]; ok && !now.After(until) {
		return errReplayed
	}
	if len(c.seen) >= maxNonces {
		return errNonceFull
	}
	// A hello is fresh up to maxClockSkew after its own clock, which may
	// itself be maxClockSkew ahead of ours.
	c.seen[nonce] = now.Add(2 * maxClockSkew)
	return nil
}

package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Access-key secrets cannot be stored hashed: SigV4 verification needs the
// secret itself to recompute the signature. They are sealed instead, with
// AES-256-GCM under a key derived from the cluster key, before they are
// proposed: the Raft log, the snapshots and the Pebble stores only ever
// hold the sealed form, and every node (all hold the cluster key) can open
// it.

// MinClusterKeyLength is the shortest cluster key a Sealer accepts.
const MinClusterKeyLength = 32

// sealVersion prefixes every sealed secret, so the scheme can change.
const sealVersion = 1

// sealInfo separates this use of the cluster key from its others (peer
// authentication): the derived key is good for nothing else.
const sealInfo = "wharf access-key secrets v1"

// Sealer seals and opens access-key secrets.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the cluster key.
func NewSealer(clusterKey []byte) (*Sealer, error) {
	if len(clusterKey) < MinClusterKeyLength {
		return nil, fmt.Errorf("auth: the cluster key must be at least %d bytes, got %d", MinClusterKeyLength, len(clusterKey))
	}
	key, err := hkdf.Key(sha256.New, clusterKey, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("auth: derive the sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auth: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: sealing cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// additionalData binds a sealed secret to its access key id: a sealed
// secret copied onto another key does not open.
func additionalData(accessKeyID string) []byte {
	return []byte("wharf access key " + accessKeyID)
}

// Seal returns the sealed form of the key's secret: a version byte, a
// random nonce, then the ciphertext and its tag.
func (s *Sealer) Seal(accessKeyID, secret string) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("auth: seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], []byte(secret), additionalData(accessKeyID)), nil
}

// ErrCannotOpen means a sealed secret does not open with this node's
// cluster key: the key differs from the one that sealed it, or the sealed
// bytes were changed.
var ErrCannotOpen = errors.New("auth: the sealed secret does not open with this cluster key (is --cluster-key-file the same on every node?)")

// Open returns the secret Seal sealed for the key.
func (s *Sealer) Open(accessKeyID string, sealed []byte) (string, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return "", fmt.Errorf("auth: sealed secret of %s: unknown format", accessKeyID)
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], additionalData(accessKeyID))
	if err != nil {
		return "", ErrCannotOpen
	}
	return string(plain), nil
}

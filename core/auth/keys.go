package auth

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
)

// AccessKeyPrefix starts every access key id Wharf makes, as AKIA starts
// AWS's: it tells a Wharf key at a glance.
const AccessKeyPrefix = "WKID"

// MaxAccessKeyIDLength bounds an access key id (AWS allows 128).
const MaxAccessKeyIDLength = 128

// NewAccessKey returns a new random access key: an id of AccessKeyPrefix
// and 16 base-32 characters (80 random bits), and a 40-character secret
// (240 random bits), shaped like AWS's so that tools expecting those
// accept them.
func NewAccessKey() (id, secret string, err error) {
	b := make([]byte, 10+30)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: new access key: %w", err)
	}
	id = AccessKeyPrefix + base32.StdEncoding.EncodeToString(b[:10])
	secret = base64.RawURLEncoding.EncodeToString(b[10:])
	return id, secret, nil
}

// CheckAccessKey validates an access key given from outside (the
// bootstrap file): an id of 16 to 128 letters and digits, and a secret of
// 16 to 128 printable characters without spaces or ':'.
func CheckAccessKey(id, secret string) error {
	if len(id) < 16 || len(id) > MaxAccessKeyIDLength {
		return fmt.Errorf("access key id must be 16 to %d characters, got %d", MaxAccessKeyIDLength, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return fmt.Errorf("access key id: invalid character %q at offset %d: only letters and digits", c, i)
		}
	}
	if len(secret) < 16 || len(secret) > 128 {
		return fmt.Errorf("secret access key must be 16 to 128 characters, got %d", len(secret))
	}
	if strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) {
		return fmt.Errorf("secret access key must be printable ASCII without spaces or ':'")
	}
	return nil
}

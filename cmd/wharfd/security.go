package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// clusterKeySize is the cluster key's length in bytes (256 bits).
const clusterKeySize = 32

// loadClusterKey reads the cluster key file: 64 hex digits (surrounding
// white space ignored). Every node of a cluster holds the same key.
func loadClusterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cluster-key-file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != clusterKeySize {
		return nil, fmt.Errorf("--cluster-key-file %s: want %d hex digits (%d random bytes), as `wharf certs` writes", path, 2*clusterKeySize, clusterKeySize)
	}
	return key, nil
}

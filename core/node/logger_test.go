package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/lni/dragonboat/v4/logger"
)

// dragonboat warns that communication is insecure whenever its own
// MutualTLS setting is off, which is always on a Wharf node (peerlink runs
// the TLS): the warning must not reach the node's log, other warnings must.
func TestMisleadingDragonboatWarningDropped(t *testing.T) {
	var buf bytes.Buffer
	l := &dbLogger{pkg: "config"}
	l.level.Store(int32(logger.DEBUG))
	prev := dragonboatSlog.Swap(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer dragonboatSlog.Store(prev)

	l.Warningf("mutual TLS disabled, communication is insecure")
	if buf.Len() != 0 {
		t.Fatalf("misleading warning logged: %s", buf.String())
	}
	l.Warningf("disk almost full")
	if !strings.Contains(buf.String(), "disk almost full") {
		t.Fatalf("other warning not logged: %q", buf.String())
	}
}

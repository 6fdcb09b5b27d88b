package node

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lni/dragonboat/v4"

	"github.com/wharfmq/wharf/core"
)

func TestRaftErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err   error
		write bool
		want  core.Code
	}{
		{dragonboat.ErrShardNotReady, true, core.Unavailable},
		{dragonboat.ErrSystemBusy, true, core.Unavailable},
		{dragonboat.ErrClosed, true, core.Unavailable},
		{dragonboat.ErrShardClosed, true, core.DeadlineExceeded},
		{dragonboat.ErrShardClosed, false, core.Unavailable},
		{dragonboat.ErrTimeout, true, core.DeadlineExceeded},
		{context.DeadlineExceeded, false, core.DeadlineExceeded},
		// Seen in the simulator after a crash: a nested read with almost no
		// deadline left. Not an internal error.
		{dragonboat.ErrTimeoutTooSmall, false, core.DeadlineExceeded},
		{fmt.Errorf("wrapped: %w", dragonboat.ErrTimeoutTooSmall), true, core.DeadlineExceeded},
		{dragonboat.ErrPayloadTooBig, true, core.InvalidArgument},
		{errors.New("something else"), true, core.Internal},
	} {
		if got := core.CodeOf(raftError("op", tc.err, tc.write)); got != tc.want {
			t.Errorf("raftError(%v, write=%v) = %v, want %v", tc.err, tc.write, got, tc.want)
		}
	}
}

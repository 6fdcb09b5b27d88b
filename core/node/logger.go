package node

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lni/dragonboat/v4/logger"
)

// Dragonboat's loggers are process-wide, so they go to the logger of the
// node that started last (in practice there is one node per process).
var (
	dragonboatSlog     atomic.Pointer[slog.Logger]
	dragonboatLogSetup sync.Once
)

// installDragonboatLogger routes dragonboat's logs to log. Its info level is
// chatty, so it becomes debug.
func installDragonboatLogger(log *slog.Logger) {
	dragonboatSlog.Store(log)
	dragonboatLogSetup.Do(func() {
		defer func() {
			// Someone else in the process installed a factory first:
			// dragonboat keeps that one.
			_ = recover()
		}()
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			l := &dbLogger{pkg: pkg}
			l.level.Store(int32(logger.INFO))
			return l
		})
	})
}

// misleading are the starts of dragonboat messages that are wrong about a
// Wharf node, dropped: the peer port's own transport (transport/peerlink)
// runs the node-to-node TLS, so dragonboat's MutualTLS setting is off even
// when the traffic is encrypted; and a long poll's stale look at the
// replica here is only ever a hint, confirmed by a linearizable read
// before a receive answers empty (receivable.go).
var misleading = []string{"mutual TLS disabled", "StaleRead called"}

type dbLogger struct {
	pkg   string
	level atomic.Int32
}

func (l *dbLogger) SetLevel(level logger.LogLevel) { l.level.Store(int32(level)) }

func (l *dbLogger) log(level logger.LogLevel, sl slog.Level, format string, args []any) {
	if int32(level) > l.level.Load() {
		return
	}
	log := dragonboatSlog.Load()
	if log == nil || !log.Enabled(context.Background(), sl) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if slices.ContainsFunc(misleading, func(m string) bool { return strings.HasPrefix(msg, m) }) {
		return
	}
	log.Log(context.Background(), sl, msg, "component", "dragonboat/"+l.pkg)
}

func (l *dbLogger) Debugf(format string, args ...any) {
	l.log(logger.DEBUG, slog.LevelDebug, format, args)
}

func (l *dbLogger) Infof(format string, args ...any) {
	l.log(logger.INFO, slog.LevelDebug, format, args)
}

func (l *dbLogger) Warningf(format string, args ...any) {
	l.log(logger.WARNING, slog.LevelInfo, format, args)
}

func (l *dbLogger) Errorf(format string, args ...any) {
	l.log(logger.ERROR, slog.LevelError, format, args)
}

// Panicf must not return: dragonboat calls it on broken invariants.
func (l *dbLogger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if log := dragonboatSlog.Load(); log != nil {
		log.Error(msg, "component", "dragonboat/"+l.pkg)
	}
	panic(msg)
}

// Package logging makes every line a brazesync process writes to stderr a
// JSON log line: it builds the process's slog logger and routes what its
// libraries log (Asynq, go-redis, the standard library's log package)
// through it.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// New returns a logger writing JSON lines to w at level and above.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Route sends the standard library's log package (used by asynqmon and by
// net/http servers without an ErrorLog) and go-redis' internal logger
// through l. Both are process-wide: main calls it once, before anything
// connects.
func Route(l *slog.Logger) {
	slog.SetDefault(l)
	redis.SetLogger(GoRedis(l.With("component", "go-redis")))
}

// GoRedisLogger is go-redis' internal logger (what redis.SetLogger takes).
type GoRedisLogger interface {
	Printf(ctx context.Context, format string, v ...any)
}

// goRedisLogger adapts slog to GoRedisLogger.
type goRedisLogger struct{ l *slog.Logger }

// GoRedis adapts l to go-redis' internal logger (redis.SetLogger). go-redis
// logs every failed dial although the command that dialled returns the same
// error to its caller, which reports it: those lines are debug, the others
// warn.
func GoRedis(l *slog.Logger) GoRedisLogger { return goRedisLogger{l} }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	level := slog.LevelWarn
	if strings.Contains(msg, "failed to dial") {
		level = slog.LevelDebug
	}
	g.l.Log(ctx, level, msg)
}

// sharedConnection is what Asynq logs, at error level, when its scheduler
// stops on a Redis client it was given: closing that client is left to its
// owner, as it should be.
const sharedConnection = "redis connection is shared"

// asynqLogger adapts slog to Asynq's Logger.
type asynqLogger struct{ l *slog.Logger }

// Asynq adapts l to Asynq's Logger (asynq.Config.Logger,
// asynq.SchedulerOpts.Logger). The error Asynq logs when it cannot close a
// shared Redis client is expected on every stop and is logged at debug.
func Asynq(l *slog.Logger) asynq.Logger { return asynqLogger{l} }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(sprint(args)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(sprint(args)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(sprint(args)) }

func (a asynqLogger) Error(args ...any) {
	msg := sprint(args)
	if strings.Contains(msg, sharedConnection) {
		a.l.Debug(msg)
		return
	}
	a.l.Error(msg)
}

// Fatal logs at error level and exits with status 1, as Asynq's Logger
// requires (Asynq v0.26 never calls it).
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(sprint(args), "fatal", true)
	os.Exit(1)
}

// sprint joins Asynq's arguments the way its own logger does (fmt.Sprint).
func sprint(args []any) string { return fmt.Sprint(args...) }

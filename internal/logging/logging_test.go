package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// lines decodes JSON log lines; any other line fails the test.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		got = append(got, m)
	}
	return got
}

func TestAsynqLevelsAndSharedConnection(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := Asynq(New(&buf, slog.LevelDebug).With("component", "asynq"))
	l.Debug("d")
	l.Info("Scheduler ", "starting")
	l.Warn("w")
	l.Error("Failed to close redis client connection: ", errors.New("redis connection is shared so the Client can't be closed through asynq"))
	l.Error("Failed to write server state data: ", errors.New("boom"))
	got := lines(t, buf.String())
	want := []struct{ level, msg string }{
		{"DEBUG", "d"},
		{"INFO", "Scheduler starting"},
		{"WARN", "w"},
		{"DEBUG", "Failed to close redis client connection: redis connection is shared so the Client can't be closed through asynq"},
		{"ERROR", "Failed to write server state data: boom"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d: %s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		if got[i]["level"] != w.level || got[i]["msg"] != w.msg || got[i]["component"] != "asynq" {
			t.Errorf("line %d = %v, want level %s msg %q component asynq", i, got[i], w.level, w.msg)
		}
	}
}

func TestAsynqSharedConnectionIsBelowInfo(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	Asynq(New(&buf, slog.LevelInfo)).Error("Failed to close redis client connection: redis connection is shared")
	if buf.Len() != 0 {
		t.Fatalf("logged at info level: %s", buf.String())
	}
}

func TestGoRedisLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := GoRedis(New(&buf, slog.LevelDebug))
	ctx := context.Background()
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, errors.New("connection refused"))
	l.Printf(ctx, "redis: failed to close connection: %v", errors.New("broken pipe"))
	got := lines(t, buf.String())
	if len(got) != 2 || got[0]["level"] != "DEBUG" || got[0]["msg"] != "connection pool: failed to dial after 5 attempts: connection refused" ||
		got[1]["level"] != "WARN" || got[1]["msg"] != "failed to close connection: broken pipe" {
		t.Fatalf("lines = %v", got)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRoute: after Route, the standard log package and a go-redis client
// that cannot dial write JSON lines through the logger.
func TestRoute(t *testing.T) {
	t.Parallel()
	before := slog.Default()
	var buf syncBuffer
	Route(New(&buf, slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(before) })
	log.Printf("error: could not run task with id %q", "t1")
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping on port 1 succeeded")
	}
	got := lines(t, buf.String())
	var stdlog, goredis bool
	for _, m := range got {
		stdlog = stdlog || (m["msg"] == `error: could not run task with id "t1"` && m["level"] == "INFO")
		goredis = goredis || (m["component"] == "go-redis" && strings.Contains(m["msg"].(string), "failed to dial"))
	}
	if !stdlog || !goredis {
		t.Fatalf("standard log routed: %v, go-redis routed: %v; lines: %s", stdlog, goredis, buf.String())
	}
}

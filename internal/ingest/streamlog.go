package ingest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// LogEntry is one rejected record in a stream's log.
type LogEntry struct {
	Time   time.Time `json:"time"`
	Index  int       `json:"index"`
	Reason string    `json:"reason"`
}

// writeRejections appends rejections to a stream log in one round trip,
// at most streamLogLength of them (the log keeps no more).
func writeRejections(ctx context.Context, rdb redis.Cmdable, key string, rejected []profiles.Rejection) error {
	if len(rejected) > streamLogLength {
		rejected = rejected[len(rejected)-streamLogLength:]
	}
	pipe := rdb.Pipeline()
	for _, r := range rejected {
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: key, MaxLen: streamLogLength, Approx: true,
			Values: []any{"index", r.Index, "reason", r.Reason},
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("writing %d rejections to %q: %w", len(rejected), key, err)
	}
	return nil
}

// StreamLog returns the newest rejections of a stream, newest first.
func (c *Collector) StreamLog(ctx context.Context, account, stream string, count int) ([]LogEntry, error) {
	if count <= 0 {
		count = 100
	}
	msgs, err := c.rdb.XRevRangeN(ctx, c.keys.streamLog(account, stream), "+", "-", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading log of stream %q of account %q: %w", stream, account, err)
	}
	out := make([]LogEntry, 0, len(msgs))
	for _, m := range msgs {
		e := LogEntry{Time: entryTime(m.ID)}
		if v, ok := m.Values["index"].(string); ok {
			e.Index, _ = strconv.Atoi(v)
		}
		e.Reason, _ = m.Values["reason"].(string)
		out = append(out, e)
	}
	return out, nil
}

// entryTime reads the time part of a stream entry id "<ms>-<seq>".
func entryTime(id string) time.Time {
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			ms, err := strconv.ParseInt(id[:i], 10, 64)
			if err != nil {
				return time.Time{}
			}
			return time.UnixMilli(ms).UTC()
		}
	}
	return time.Time{}
}

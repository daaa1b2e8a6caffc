package changelog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CreateConsumer registers the consumer name on the account's log and returns
// its cursor. A new consumer starts at start; an existing one keeps its
// cursor (created is false), so that creation is idempotent.
func (l *Log) CreateConsumer(ctx context.Context, acct, name string, start Start) (cursor string, created bool, err error) {
	if name == "" {
		return "", false, errors.New("changelog: empty consumer name")
	}
	if start != StartNow && start != StartOldest {
		return "", false, fmt.Errorf("changelog: unknown start %q", start)
	}
	keys := []string{StreamKey(l.ns, acct), consumersKey(l.ns, acct), metaKey(l.ns, acct)}
	res, err := createConsumerScript.Run(ctx, l.rdb, keys, name, string(start)).Slice()
	if err != nil {
		return "", false, fmt.Errorf("creating change log consumer %q of account %q: %w", name, acct, err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("creating change log consumer %q: unexpected reply %v", name, res)
	}
	c, _ := res[0].(int64)
	cursor, _ = res[1].(string)
	return cursor, c == 1, nil
}

// Cursor returns the consumer's cursor: the ID of the last entry it committed.
func (l *Log) Cursor(ctx context.Context, acct, name string) (string, error) {
	cur, err := l.rdb.HGet(ctx, consumersKey(l.ns, acct), name).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("consumer %q of account %q: %w", name, acct, ErrNoConsumer)
	}
	if err != nil {
		return "", fmt.Errorf("reading cursor of consumer %q of account %q: %w", name, acct, err)
	}
	return cur, nil
}

// Consumers returns every consumer of the account with its cursor.
func (l *Log) Consumers(ctx context.Context, acct string) (map[string]string, error) {
	m, err := l.rdb.HGetAll(ctx, consumersKey(l.ns, acct)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing change log consumers of account %q: %w", acct, err)
	}
	return m, nil
}

// Read returns the entries of up to count stream entries after the
// consumer's cursor, in order (see Range). It
// does not move the cursor: call Commit once the entries are processed, so
// that a crash re-reads them (at-least-once). It returns ErrGap if entries the
// consumer had not read were trimmed.
func (l *Log) Read(ctx context.Context, acct, name string, count int) ([]Entry, error) {
	pipe := l.rdb.Pipeline()
	curCmd := pipe.HGet(ctx, consumersKey(l.ns, acct), name)
	trimCmd := pipe.HGet(ctx, metaKey(l.ns, acct), "trimmed_through")
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	cur, err := curCmd.Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading consumer %q of account %q: %w", name, acct, ErrNoConsumer)
	}
	if err != nil {
		return nil, fmt.Errorf("reading cursor of consumer %q of account %q: %w", name, acct, err)
	}
	trimmed, err := trimCmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading trim mark of account %q: %w", acct, err)
	}
	if trimmed != "" && idLess(cur, trimmed) {
		return nil, fmt.Errorf("consumer %q of account %q at %s, log trimmed through %s: %w", name, acct, cur, trimmed, ErrGap)
	}
	return l.Range(ctx, acct, cur, count)
}

// Commit records that the consumer has processed every entry up to and
// including id. The cursor never moves back: committing an older id is a
// no-op.
func (l *Log) Commit(ctx context.Context, acct, name, id string) error {
	err := commitScript.Run(ctx, l.rdb, []string{consumersKey(l.ns, acct)}, name, id).Err()
	if err != nil {
		if strings.Contains(err.Error(), "NOCONSUMER") {
			return fmt.Errorf("committing consumer %q of account %q: %w", name, acct, ErrNoConsumer)
		}
		return fmt.Errorf("committing consumer %q of account %q at %s: %w", name, acct, id, err)
	}
	return nil
}

// Reset moves the consumer's cursor to the current end of the log and returns
// it: the way out of ErrGap, followed by a backfill of current membership.
func (l *Log) Reset(ctx context.Context, acct, name string) (string, error) {
	keys := []string{StreamKey(l.ns, acct), consumersKey(l.ns, acct)}
	cur, err := resetScript.Run(ctx, l.rdb, keys, name).Text()
	if err != nil {
		if strings.Contains(err.Error(), "NOCONSUMER") {
			return "", fmt.Errorf("resetting consumer %q of account %q: %w", name, acct, ErrNoConsumer)
		}
		return "", fmt.Errorf("resetting consumer %q of account %q: %w", name, acct, err)
	}
	return cur, nil
}

// DeleteConsumer removes the consumer; Trim no longer waits for it.
func (l *Log) DeleteConsumer(ctx context.Context, acct, name string) error {
	if err := l.rdb.HDel(ctx, consumersKey(l.ns, acct), name).Err(); err != nil {
		return fmt.Errorf("deleting consumer %q of account %q: %w", name, acct, err)
	}
	return nil
}

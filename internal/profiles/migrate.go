package profiles

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MigrateHashProfiles rewrites the profiles of account that an earlier
// build stored as hashes ("m:fs", "m:ls", "m:ids", "d") into the one-string
// form of stored.go, and returns how many it rewrote. It is safe to run
// again, and while other processes write (each profile is rewritten under
// WATCH, and the write version is bumped).
func (s *Store) MigrateHashProfiles(ctx context.Context, account string) (int, error) {
	last, err := s.rdb.Get(ctx, s.keys.seq(account)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrating profiles of account %q: %w", account, err)
	}
	const window = 500
	n := 0
	for from := int64(1); from <= last; from += window {
		pipe := s.rdb.Pipeline()
		types := make([]*redis.StatusCmd, 0, window)
		for id := from; id < from+window && id <= last; id++ {
			types = append(types, pipe.Type(ctx, s.keys.profile(account, strconv.FormatInt(id, 10))))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return n, fmt.Errorf("migrating profiles of account %q: %w", account, err)
		}
		for i, t := range types {
			if t.Val() != "hash" {
				continue
			}
			if err := s.migrateOne(ctx, account, strconv.FormatInt(from+int64(i), 10)); err != nil {
				return n, fmt.Errorf("migrating profiles of account %q: %w", account, err)
			}
			n++
		}
	}
	return n, nil
}

func (s *Store) migrateOne(ctx context.Context, account, id string) error {
	key := s.keys.profile(account, id)
	return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		h, err := tx.HGetAll(ctx, key).Result()
		if err != nil {
			if strings.Contains(err.Error(), "WRONGTYPE") {
				return nil // rewritten meanwhile
			}
			return err
		}
		if len(h) == 0 {
			return nil
		}
		fs, _ := strconv.ParseInt(h["m:fs"], 10, 64)
		ls, _ := strconv.ParseInt(h["m:ls"], 10, 64)
		var ids []string
		for sfx := range strings.SplitSeq(h["m:ids"], "\n") {
			if sfx != "" {
				ids = append(ids, sfx)
			}
		}
		data := h["d"]
		if data == "" || data == "[]" {
			data = "{}"
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			p.Set(ctx, key, encodeProfile(fs, ls, 0, ids, data), 0)
			p.Incr(ctx, s.keys.pver(account))
			return nil
		})
		return err
	}, key)
}

// MigrateIndex moves the account's identity index from the one hash of
// earlier builds ("<field>:<value>" -> id) into one hash per identity field
// (see index.go), removes the old hash, and returns how many entries it
// moved. An entry this build wrote meanwhile is kept over the old one. It
// is safe to run again. Run it before starting this build: until it ran,
// this build refuses to read or write the account's profiles
// (ErrLegacyIndex).
func (s *Store) MigrateIndex(ctx context.Context, account string) (int, error) {
	old := s.keys.legacyIndex(account)
	moved := 0
	for pass := 0; ; pass++ {
		var cursor uint64
		for {
			page, next, err := s.rdb.HScan(ctx, old, cursor, "*", 1000).Result()
			if err != nil {
				return moved, fmt.Errorf("migrating the identity index of account %q: %w", account, err)
			}
			if len(page) > 0 {
				if err := s.moveIndexEntries(ctx, account, page); err != nil {
					return moved, err
				}
				moved += len(page) / 2
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		// HSCAN returns every entry that stays in the hash; entries it
		// returned are gone from it. What is left came in meanwhile.
		left, err := s.rdb.HLen(ctx, old).Result()
		if err != nil {
			return moved, fmt.Errorf("migrating the identity index of account %q: %w", account, err)
		}
		if left == 0 {
			return moved, nil
		}
		if pass == 2 {
			return moved, fmt.Errorf("migrating the identity index of account %q: %d entries keep coming in; stop every process of an earlier build", account, left)
		}
	}
}

// moveIndexEntries moves a page of HSCAN (field, value, field, value...)
// from the old index into the field hashes.
func (s *Store) moveIndexEntries(ctx context.Context, account string, page []string) error {
	pipe := s.rdb.Pipeline()
	fields := make([]string, 0, len(page)/2)
	for i := 0; i+1 < len(page); i += 2 {
		sfx, id := page[i], page[i+1]
		field, value := splitSuffix(sfx)
		if field == "" || value == "" {
			return fmt.Errorf("migrating the identity index of account %q: entry %q is not \"<field>:<value>\"", account, sfx)
		}
		pipe.HSetNX(ctx, s.keys.index(account, field), value, id)
		fields = append(fields, sfx)
	}
	pipe.HDel(ctx, s.keys.legacyIndex(account), fields...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("migrating the identity index of account %q: %w", account, err)
	}
	return nil
}

package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Mapping returns the mapping of stream for account: the stored one, else the
// built-in one (BrazeUsersMapping for braze_users, DefaultMapping otherwise).
func (s *Store) Mapping(ctx context.Context, account, stream string) (Mapping, error) {
	raw, err := s.rdb.Get(ctx, s.keys.mapping(account, stream)).Bytes()
	if errors.Is(err, redis.Nil) {
		return builtinMapping(stream), nil
	}
	if err != nil {
		return Mapping{}, fmt.Errorf("reading mapping of stream %q of account %q: %w", stream, account, err)
	}
	var m Mapping
	if err := json.Unmarshal(raw, &m); err != nil {
		return Mapping{}, fmt.Errorf("decoding mapping of stream %q of account %q: %w", stream, account, err)
	}
	m.Stream = stream
	m.Builtin = false
	return m, nil
}

// SetMapping validates and stores the mapping of stream for account. It
// applies to records processed from then on (within MappingTTL in other
// processes); stored profiles are not rewritten.
func (s *Store) SetMapping(ctx context.Context, account, stream string, m Mapping) error {
	m.Stream = stream
	m.Builtin = false
	if err := m.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding mapping of stream %q: %w", stream, err)
	}
	if err := s.rdb.Set(ctx, s.keys.mapping(account, stream), raw, 0).Err(); err != nil {
		return fmt.Errorf("storing mapping of stream %q of account %q: %w", stream, account, err)
	}
	s.mu.Lock()
	delete(s.mappings, account+"\x00"+stream)
	s.mu.Unlock()
	return nil
}

// ResetMapping removes the stored mapping of stream, so the built-in one
// applies again.
func (s *Store) ResetMapping(ctx context.Context, account, stream string) error {
	if err := s.rdb.Del(ctx, s.keys.mapping(account, stream)).Err(); err != nil {
		return fmt.Errorf("removing mapping of stream %q of account %q: %w", stream, account, err)
	}
	s.mu.Lock()
	delete(s.mappings, account+"\x00"+stream)
	s.mu.Unlock()
	return nil
}

// compiledMapping returns the stream's mapping from the cache, reading it
// when the cached copy is older than MappingTTL.
func (s *Store) compiledMapping(ctx context.Context, account, stream string) (*compiledMapping, error) {
	key := account + "\x00" + stream
	now := s.opt.Now()
	s.mu.Lock()
	c, ok := s.mappings[key]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.m, nil
	}
	m, err := s.Mapping(ctx, account, stream)
	if err != nil {
		return nil, err
	}
	cm := compile(m)
	s.mu.Lock()
	if len(s.mappings) > 10000 {
		clear(s.mappings)
	}
	s.mappings[key] = cachedMapping{m: cm, expires: now.Add(s.opt.MappingTTL)}
	s.mu.Unlock()
	return cm, nil
}

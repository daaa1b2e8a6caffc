package ratelimit

import (
	"context"
	"strings"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Key layout (every key is hash-tagged by account, so the keys of one
// authorization live in one Redis Cluster slot):
//
//	<ns>:{<acct>}:ratelimit:<authID>:gcra     GCRA theoretical arrival time (redis_rate)
//	<ns>:{<acct>}:ratelimit:<authID>:blocked  Unix ms until which Braze said the window is spent; expires then

func gcraKey(ns keyspace.Namespace, acct, authID string) string {
	return ns.Account(acct, "ratelimit", authID, "gcra")
}

func blockedKey(ns keyspace.Namespace, acct, authID string) string {
	return ns.Account(acct, "ratelimit", authID, "blocked")
}

// blockUntil extends the "blocked until" key to a later instant, never to an
// earlier one, so that a stale response cannot shorten a block that a newer
// one set.
//
// KEYS[1] blocked key
// ARGV[1] block end, Unix milliseconds
// Returns 1 when the block was extended, 0 when an equal or later block was
// already in place.
var blockUntil = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilMs = tonumber(ARGV[1])
if untilMs > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
  return 1
end
return 0
`)

// rateKeyPrefix is the prefix redis_rate puts in front of every key it is
// given. keyRewriter removes it, so that the GCRA state lives under our
// namespace like every other brazesync key (operators and test cleanup find
// all of an account's keys under "<ns>:{<acct>}:").
const rateKeyPrefix = "rate:"

// scripter is the subset of a Redis client that redis_rate needs.
type scripter interface {
	redis.Scripter
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// keyRewriter adapts a Redis client for redis_rate, stripping its "rate:"
// key prefix.
type keyRewriter struct{ rdb scripter }

func strip(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, rateKeyPrefix)
	}
	return out
}

func (k keyRewriter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.rdb.Eval(ctx, script, strip(keys), args...)
}

func (k keyRewriter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.rdb.EvalSha(ctx, sha1, strip(keys), args...)
}

func (k keyRewriter) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.rdb.EvalRO(ctx, script, strip(keys), args...)
}

func (k keyRewriter) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.rdb.EvalShaRO(ctx, sha1, strip(keys), args...)
}

func (k keyRewriter) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return k.rdb.ScriptExists(ctx, hashes...)
}

func (k keyRewriter) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return k.rdb.ScriptLoad(ctx, script)
}

func (k keyRewriter) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return k.rdb.Del(ctx, strip(keys)...)
}

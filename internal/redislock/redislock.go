// Package redislock holds the token-guarded lock idiom that brazesync uses
// on Redis: a key whose value is its holder's token, which only that holder
// may renew or delete. Import leases, export sender slots and managed SFTP
// username claims are all such keys.
//
// A holder that dies without releasing its key loses it when the key's time
// to live ends; no one else can release it earlier by mistake.
package redislock

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript takes the key when it is free, or renews it when the caller
// already holds it.
//
// KEYS[1] the key. ARGV[1] token, ARGV[2] time to live (ms). Returns 1 when
// the caller holds the key.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// renewScript extends the key's time to live if the caller holds it.
//
// KEYS[1] the key. ARGV[1] token, ARGV[2] time to live (ms). Returns 1 when
// renewed.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes the key, and the keys that go with it, if the
// caller holds it.
//
// KEYS[1] the key, KEYS[2...] keys deleted with it. ARGV[1] token. Returns 1
// when released.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0`)

// NewToken returns a random token that names one holding of a key.
func NewToken() string { return rand.Text() }

// Acquire sets key to token for ttl when no one holds it, or extends it
// when token already holds it. It reports whether token holds key.
func Acquire(ctx context.Context, rdb redis.Scripter, key, token string, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, rdb, []string{key}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("acquiring %s: %w", key, err)
	}
	return n == 1, nil
}

// Renew extends key's time to live to ttl if token holds it. It reports
// whether it did: false means the key expired or another holder has it.
func Renew(ctx context.Context, rdb redis.Scripter, key, token string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, rdb, []string{key}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renewing %s: %w", key, err)
	}
	return n == 1, nil
}

// Release deletes key, with the keys in also, if token holds it. It
// reports whether it did. The keys in also must hash to key's slot on a
// Redis Cluster.
func Release(ctx context.Context, rdb redis.Scripter, key, token string, also ...string) (bool, error) {
	n, err := releaseScript.Run(ctx, rdb, append([]string{key}, also...), token).Int()
	if err != nil {
		return false, fmt.Errorf("releasing %s: %w", key, err)
	}
	return n == 1, nil
}

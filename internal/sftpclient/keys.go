package sftpclient

import (
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// semaphoreKey is the sorted set of connection leases to one
// authorization's server: member = lease id, score = expiry (Redis server
// time, unix milliseconds).
func semaphoreKey(ns keyspace.Namespace, account, authorizationID string) string {
	return ns.Account(account, "sftp", "conns", authorizationID)
}

// acquireScript takes a lease if fewer than limit live leases exist.
//
// KEYS[1]: the semaphore sorted set.
// ARGV[1]: lease id; ARGV[2]: lease time to live (ms); ARGV[3]: limit.
// Returns: {1, 0} when the lease was taken (or renewed, if it already held
// one); {0, ms} when the semaphore is full, ms being the time until the
// earliest lease expires.
// Expired leases (of processes that died) are removed first. Time is the
// Redis server's, so workers' clocks do not matter.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
`)

// renewScript extends a lease that is still held.
//
// KEYS[1]: the semaphore sorted set.
// ARGV[1]: lease id; ARGV[2]: lease time to live (ms).
// Returns: 1 when renewed, 0 when the lease had expired or was released.
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return 1
`)

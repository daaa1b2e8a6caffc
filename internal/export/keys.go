package export

import (
	"github.com/brazesync/brazesync/internal/store"
	"github.com/redis/go-redis/v9"
)

// Keys of one export job, all under the account's hash tag:
//
//	export:<job>:dirty     ZSET profile id -> ms since it first waited
//	export:<job>:inflight  ZSET profile id -> lease deadline (ms)
//	export:<job>:sent      HASH profile id -> state Braze last accepted
//	export:<job>:state     HASH run, backfill cursor and audiences, counts,
//	                       retired audiences, flush request
//
// and one global set of active export jobs ("<account>/<job>") that the
// scheduler's pump walks.
type keys struct{ ns store.Namespace }

func (k keys) dirty(acct, job string) string    { return k.ns.Account(acct, "export", job, "dirty") }
func (k keys) inflight(acct, job string) string { return k.ns.Account(acct, "export", job, "inflight") }
func (k keys) sent(acct, job string) string     { return k.ns.Account(acct, "export", job, "sent") }
func (k keys) state(acct, job string) string    { return k.ns.Account(acct, "export", job, "state") }
func (k keys) active() string                   { return k.ns.Global("exports") }

// claimScript leases up to count waiting users to one sender. Leases that
// expired (a sender that died) first go back to waiting.
//
// KEYS[1] dirty, KEYS[2] inflight. ARGV[1] now (ms), ARGV[2] lease (ms),
// ARGV[3] count. Returns the claimed profile ids.
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
  redis.call('ZADD', KEYS[1], 'NX', now, m)
  redis.call('ZREM', KEYS[2], m)
end
local ms = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
if #ms > 0 then
  redis.call('ZREM', KEYS[1], unpack(ms))
  local deadline = now + tonumber(ARGV[2])
  for _, m in ipairs(ms) do redis.call('ZADD', KEYS[2], deadline, m) end
end
return ms`)

// releaseScript gives leased users back to waiting (a failed request).
//
// KEYS[1] dirty, KEYS[2] inflight. ARGV[1] now (ms), ARGV[2..] profile ids.
var releaseScript = redis.NewScript(`
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return #ARGV - 1`)

// backfillStepScript moves the backfill cursor forward only from the value
// the caller read, so a chunk run twice does not move it twice.
//
// KEYS[1] state. ARGV[1] expected cursor, ARGV[2] next cursor, ARGV[3] "1"
// when done, ARGV[4] members seen in this chunk. Returns 1 if moved.
var backfillStepScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'bf_cursor') or ''
if cur ~= ARGV[1] or redis.call('HGET', KEYS[1], 'bf_pending') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'bf_cursor', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'bf_seen', ARGV[4])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'bf_pending', '0') end
return 1`)

package ingest

import "github.com/redis/go-redis/v9"

// enqueueScript applies the account's ingest rate limit (GCRA) and, when the
// request is allowed and the backlog is not full, appends it to the account's
// ingest stream, all in one round trip.
//
// KEYS[1]: <ns>:{<acct>}:ingest, the ingest stream.
// KEYS[2]: <ns>:{<acct>}:ingest:rate, the GCRA state (same hash tag).
// ARGV[1]: emission interval in microseconds (1e6/rate); 0 disables the limit.
// ARGV[2]: burst, in requests.
// ARGV[3]: backlog limit: the stream length above which requests are refused.
// ARGV[4..]: the entry's field/value pairs.
// Returns {1, entry id, stream length before the entry} when appended,
// {0, retry after ms, 0} when rate limited, {-1, stream length, 0} when the
// backlog is full.
var enqueueScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
if interval > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tat < now then
    tat = now
  end
  local newTat = tat + interval
  local allowAt = newTat - interval * tonumber(ARGV[2])
  if now < allowAt then
    return {0, math.ceil((allowAt - now) / 1000), 0}
  end
  redis.call('SET', KEYS[2], newTat, 'PX', math.ceil((newTat - now) / 1000) + 1)
end
local n = redis.call('XLEN', KEYS[1])
local backlog = tonumber(ARGV[3])
if backlog > 0 and n >= backlog then
  return {-1, n, 0}
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
return {1, id, n}
`)

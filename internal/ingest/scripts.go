package ingest

import "github.com/redis/go-redis/v9"

// leaseScript takes up to ARGV[3] requests from the account's ingest rate
// limit (GCRA) at once, so that a process asks Redis once per lease rather
// than once per request.
//
// KEYS[1]: <ns>:{<acct>}:ingest:rate, the GCRA state (theoretical arrival
// time, µs).
// ARGV[1]: emission interval in microseconds (1e6/rate).
// ARGV[2]: burst, in requests.
// ARGV[3]: the most requests to take.
// Returns {granted, 0} when at least one request is granted, {0, retry
// after ms} otherwise.
var leaseScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local room = math.floor((now + interval * burst - tat) / interval)
if room < 1 then
  return {0, math.ceil((tat + interval - interval * burst - now) / 1000)}
end
local n = math.min(room, want)
local newTat = tat + n * interval
redis.call('SET', KEYS[1], newTat, 'PX', math.ceil((newTat - now) / 1000) + 1)
return {n, 0}
`)

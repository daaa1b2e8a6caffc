package changelog

import "github.com/redis/go-redis/v9"

// luaIDLess is shared by the scripts: stream IDs "ms-seq" compared numerically.
// Milliseconds and sequence numbers stay below 2^53, so Lua numbers hold them
// exactly.
const luaIDLess = `
local function idparts(id)
  local d = string.find(id, '-', 1, true)
  if not d then return tonumber(id), 0 end
  return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1))
end
local function idless(a, b)
  local am, as = idparts(a)
  local bm, bs = idparts(b)
  if am ~= bm then return am < bm end
  return as < bs
end
`

// luaLastID returns the ID of the last entry ever added to stream key, "0-0"
// if none; it survives the trimming of every entry.
const luaLastID = `
local function lastid(key)
  if redis.call('EXISTS', key) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
`

// createConsumerScript registers a consumer unless it already exists.
//
// KEYS[1] stream, KEYS[2] consumers hash, KEYS[3] meta hash.
// ARGV[1] consumer name, ARGV[2] start: "now" (the last ID ever added) or
// "oldest" (just before the oldest entry kept: the trim mark, else "0-0").
// Returns {created (1 or 0), cursor}.
var createConsumerScript = redis.NewScript(luaLastID + `
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then return {0, cur} end
if ARGV[2] == 'now' then
  cur = lastid(KEYS[1])
else
  cur = redis.call('HGET', KEYS[3], 'trimmed_through') or '0-0'
end
redis.call('HSET', KEYS[2], ARGV[1], cur)
return {1, cur}
`)

// commitScript moves a consumer's cursor forward, never back.
//
// KEYS[1] consumers hash.
// ARGV[1] consumer name, ARGV[2] stream ID of the last processed entry.
// Returns 1 if the cursor moved, 0 if it was already at or past ARGV[2], or
// the error "NOCONSUMER" if the consumer does not exist.
var commitScript = redis.NewScript(luaIDLess + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return redis.error_reply('NOCONSUMER') end
if idless(cur, ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
`)

// resetScript moves an existing consumer's cursor to the current end of the
// log (used before a new backfill).
//
// KEYS[1] stream, KEYS[2] consumers hash.
// ARGV[1] consumer name.
// Returns the new cursor, or the error "NOCONSUMER".
var resetScript = redis.NewScript(luaLastID + `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return redis.error_reply('NOCONSUMER') end
local cur = lastid(KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], cur)
return cur
`)

// trimScript removes the entries every consumer has read, and every entry
// older than the retention, whichever reaches further.
//
// KEYS[1] stream, KEYS[2] consumers hash, KEYS[3] meta hash.
// ARGV[1] retention bound: entries with an ID below it are removed anyway.
// Returns the number of entries removed. Records in KEYS[3] field
// "trimmed_through" the highest ID removed so far.
var trimScript = redis.NewScript(luaIDLess + `
local minid = ARGV[1]
local curs = redis.call('HVALS', KEYS[2])
if #curs > 0 then
  local slow = curs[1]
  for i = 2, #curs do
    if idless(curs[i], slow) then slow = curs[i] end
  end
  local ms, seq = idparts(slow)
  local nxt = string.format('%.0f-%.0f', ms, seq + 1)
  if idless(minid, nxt) then minid = nxt end
end
if minid == '0-0' then return 0 end
local last = redis.call('XREVRANGE', KEYS[1], '(' .. minid, '-', 'COUNT', 1)
if #last == 0 then return 0 end
local n = redis.call('XTRIM', KEYS[1], 'MINID', minid)
local prev = redis.call('HGET', KEYS[3], 'trimmed_through')
if (not prev) or idless(prev, last[1][1]) then
  redis.call('HSET', KEYS[3], 'trimmed_through', last[1][1])
end
return n
`)

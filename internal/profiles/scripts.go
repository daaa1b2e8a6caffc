package profiles

import "github.com/redis/go-redis/v9"

// guardScript checks what an optimistic commit was resolved against and,
// when anything differs, touches the guard key that the commit's connection
// watches, so that the transaction queued after it aborts.
//
// KEYS[1] write version, KEYS[2] guard, KEYS[2+i] the i-th checked key.
// ARGV[1] expected write version (a missing one is 0), ARGV[1+i] expected
// value of the i-th checked key ("" when missing).
//
// Returns 1 when it touched the guard, else 0.
var guardScript = redis.NewScript(guardSource)

// guardSource is guardScript's source, which a commitStream sends with EVAL.
const guardSource = `
local stale = tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1])
for i = 3, #KEYS do
  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[i - 1] then stale = true end
end
if stale then
  redis.call('SET', KEYS[2], '1', 'PX', 60000)
  return 1
end
return 0
`

// deleteScript forgets one profile: its string and its identity index entries
// (those that still point at it), and counts it as gone.
//
// KEYS[1]: <prefix>p:<id>, the profile.
// ARGV[1]: the key prefix "<ns>:{<acct>}:"; the identity index and the gone
//
//	counter are built from it and share KEYS[1]'s hash tag.
//
// ARGV[2]: the profile id.
// Returns 1 when the profile existed, else 0.
var deleteScript = redis.NewScript(`
local prefix = ARGV[1]
local id = ARGV[2]
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
local nl = string.find(v, '\n', 1, true)
local e = string.find(v, '\n\n', nl, true)
local list = string.sub(v, nl + 1, e - 1)
for suffix in string.gmatch(list, '[^\n]+') do
  local c = string.find(suffix, ':', 1, true)
  local key, value = prefix .. 'ids:' .. string.sub(suffix, 1, c - 1), string.sub(suffix, c + 1)
  if redis.call('HGET', key, value) == id then
    redis.call('HDEL', key, value)
  end
end
redis.call('DEL', KEYS[1])
redis.call('INCR', prefix .. 'gone')
redis.call('INCR', prefix .. 'pver')
return 1
`)

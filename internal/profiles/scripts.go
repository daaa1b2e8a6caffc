package profiles

import "github.com/redis/go-redis/v9"

// upsertScript applies a batch of prepared records to the profiles of one
// account in one round trip: identity resolution, profile creation, merges
// and newest-event-wins field writes.
//
// KEYS[1]: <prefix>seq, the account's profile id counter. Every other key is
//
//	built from ARGV[1] and shares KEYS[1]'s hash tag (see keys.go).
//
// ARGV[1]: the key prefix "<ns>:{<acct>}:".
// ARGV[2]: n, the number of records. Then per record:
//
//	ts (event time ms), id_count, kv_count, id_count identity suffixes
//	"field:value", kv_count/2 pairs of hash field "f:<name>" and stored
//	value "<ts>|<code><text>".
//
// Returns {ids, merges}: ids[i] is the profile record i was applied to (it
// may have been merged away by a later record of the batch); merges is a flat
// list loser1, survivor1, loser2, survivor2, ... in the order they happened.
//
// A record whose identities point at several profiles merges them into the
// oldest (smallest id); for each field the value with the newest event time
// survives, the survivor's on a tie. Field writes keep the newest event time
// per field; a tie goes to the later write.
var upsertScript = redis.NewScript(`
local prefix = ARGV[1]
local n = tonumber(ARGV[2])
local seqKey = KEYS[1]
local setKey = prefix .. 'profiles'

local function tsOf(v)
  local p = string.find(v, '|', 1, true)
  return tonumber(string.sub(v, 1, p - 1))
end

local function merge(s, l)
  local skey = prefix .. 'p:' .. s
  local lkey = prefix .. 'p:' .. l
  local lf = redis.call('HGETALL', lkey)
  local set = {}
  for i = 1, #lf, 2 do
    local k, v = lf[i], lf[i + 1]
    local c = string.sub(k, 1, 2)
    if c == 'f:' then
      local sv = redis.call('HGET', skey, k)
      if (not sv) or tsOf(v) > tsOf(sv) then
        set[#set + 1] = k
        set[#set + 1] = v
      end
    elseif c == 'i:' then
      set[#set + 1] = k
      set[#set + 1] = v
      redis.call('SET', prefix .. 'x:' .. string.sub(k, 3), s)
    elseif k == 'm:fs' then
      local sv = redis.call('HGET', skey, k)
      if (not sv) or tonumber(v) < tonumber(sv) then
        set[#set + 1] = k
        set[#set + 1] = v
      end
    elseif k == 'm:ls' then
      local sv = redis.call('HGET', skey, k)
      if (not sv) or tonumber(v) > tonumber(sv) then
        set[#set + 1] = k
        set[#set + 1] = v
      end
    end
  end
  if #set > 0 then
    redis.call('HSET', skey, unpack(set))
  end
  redis.call('DEL', lkey)
  redis.call('ZREM', setKey, l)
  redis.call('SET', prefix .. 'merged:' .. l, s)
  redis.call('XADD', prefix .. 'merges', 'MAXLEN', '~', 10000, '*', 'loser', l, 'survivor', s)
end

local ids = {}
local merges = {}
local pos = 3
for r = 1, n do
  local ts = ARGV[pos]
  local tsn = tonumber(ts)
  local nid = tonumber(ARGV[pos + 1])
  local nkv = tonumber(ARGV[pos + 2])
  pos = pos + 3
  local idStart = pos
  local idxKeys = {}
  for j = 1, nid do
    idxKeys[j] = prefix .. 'x:' .. ARGV[pos + j - 1]
  end
  pos = pos + nid
  local kvStart = pos
  pos = pos + nkv

  local found = redis.call('MGET', unpack(idxKeys))
  local id = nil
  local others = {}
  for j = 1, nid do
    local f = found[j]
    if f then
      if not id then
        id = f
      elseif f ~= id then
        if tonumber(f) < tonumber(id) then
          others[#others + 1] = id
          id = f
        else
          others[#others + 1] = f
        end
      end
    end
  end
  if #others > 0 then
    table.sort(others, function(a, b) return tonumber(a) < tonumber(b) end)
    local last = nil
    for _, l in ipairs(others) do
      if l ~= id and l ~= last then
        merge(id, l)
        merges[#merges + 1] = l
        merges[#merges + 1] = id
      end
      last = l
    end
  end

  local pkey
  local hs = {}
  if not id then
    id = tostring(redis.call('INCR', seqKey))
    pkey = prefix .. 'p:' .. id
    hs[1] = 'm:fs'; hs[2] = ts; hs[3] = 'm:ls'; hs[4] = ts
    for j = kvStart, kvStart + nkv - 1 do
      hs[#hs + 1] = ARGV[j]
    end
    redis.call('ZADD', setKey, id, id)
  else
    pkey = prefix .. 'p:' .. id
    local meta = redis.call('HMGET', pkey, 'm:ls', 'm:fs')
    if (not meta[1]) or tsn >= tonumber(meta[1]) then
      hs[1] = 'm:ls'; hs[2] = ts
      if not meta[2] then
        hs[3] = 'm:fs'; hs[4] = ts
        redis.call('ZADD', setKey, id, id)
      end
      for j = kvStart, kvStart + nkv - 1 do
        hs[#hs + 1] = ARGV[j]
      end
    else
      if tsn < tonumber(meta[2]) then
        hs[1] = 'm:fs'; hs[2] = ts
      end
      if nkv > 0 then
        local names = {}
        for j = kvStart, kvStart + nkv - 1, 2 do
          names[#names + 1] = ARGV[j]
        end
        local cur = redis.call('HMGET', pkey, unpack(names))
        for k = 1, #names do
          local c = cur[k]
          if (not c) or tsOf(c) <= tsn then
            hs[#hs + 1] = names[k]
            hs[#hs + 1] = ARGV[kvStart + 2 * k - 1]
          end
        end
      end
    end
  end
  for j = 1, nid do
    if found[j] ~= id then
      if not found[j] then
        redis.call('SET', idxKeys[j], id)
      end
      hs[#hs + 1] = 'i:' .. ARGV[idStart + j - 1]
      hs[#hs + 1] = ts
    end
  end
  if #hs > 0 then
    redis.call('HSET', pkey, unpack(hs))
  end
  ids[r] = id
end
return {ids, merges}
`)

// deleteScript forgets one profile: its hash, its identity index entries
// (those that still point at it) and its place in the profile set.
//
// KEYS[1]: <prefix>p:<id>, the profile hash.
// ARGV[1]: the key prefix "<ns>:{<acct>}:"; the index keys and the profile
//
//	set are built from it and share KEYS[1]'s hash tag.
//
// ARGV[2]: the profile id.
// Returns 1 when the profile existed, else 0.
var deleteScript = redis.NewScript(`
local prefix = ARGV[1]
local id = ARGV[2]
local fields = redis.call('HKEYS', KEYS[1])
if #fields == 0 then
  return 0
end
for _, k in ipairs(fields) do
  if string.sub(k, 1, 2) == 'i:' then
    local ik = prefix .. 'x:' .. string.sub(k, 3)
    if redis.call('GET', ik) == id then
      redis.call('DEL', ik)
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', prefix .. 'profiles', id)
return 1
`)

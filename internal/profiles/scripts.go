package profiles

import "github.com/redis/go-redis/v9"

// upsertScript applies a batch of prepared records to the profiles of one
// account in one round trip: identity resolution, profile creation, merges
// and newest-event-wins field writes. The identity index is read with one
// HMGET and written with one HSET for the whole batch (in chunks), so a new
// profile costs one HSET of its own.
//
// KEYS[1]: <prefix>seq, the account's profile id counter. Every other key is
//
//	built from ARGV[1] and shares KEYS[1]'s hash tag (see keys.go).
//
// ARGV[1]: the key prefix "<ns>:{<acct>}:".
// ARGV[2]: n, the number of records. Then per record:
//
//	ts (event time ms), id_count, kv_count, id_count distinct identity
//	suffixes "field:value", kv_count/2 pairs of hash field "f:<name>" and
//	stored value "<ts>|<code><text>".
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
local idsKey = prefix .. 'ids'
local chunk = 1000

local function tsOf(v)
  local p = string.find(v, '|', 1, true)
  return tonumber(string.sub(v, 1, p - 1))
end

-- Pass 1: where each record starts, and every distinct identity.
local starts = {}
local suffixes = {}
local seen = {}
local pos = 3
for r = 1, n do
  starts[r] = pos
  local nid = tonumber(ARGV[pos + 1])
  local nkv = tonumber(ARGV[pos + 2])
  for j = pos + 3, pos + 2 + nid do
    local s = ARGV[j]
    if not seen[s] then
      seen[s] = true
      suffixes[#suffixes + 1] = s
    end
  end
  pos = pos + 3 + nid + nkv
end

-- index: identity -> profile id (false when unknown), for the whole batch.
local index = {}
for c = 1, #suffixes, chunk do
  local last = math.min(c + chunk - 1, #suffixes)
  local got = redis.call('HMGET', idsKey, unpack(suffixes, c, last))
  for k = c, last do
    index[suffixes[k]] = got[k - c + 1]
  end
end
-- dirty: identities whose index entry must be written at the end.
local dirty = {}
local dirtyList = {}
local function point(suffix, id)
  index[suffix] = id
  if not dirty[suffix] then
    dirtyList[#dirtyList + 1] = suffix
  end
  dirty[suffix] = true
end

local seq = tonumber(redis.call('GET', seqKey) or '0')
local nextId = seq

local function merge(s, l)
  local skey = prefix .. 'p:' .. s
  local lkey = prefix .. 'p:' .. l
  local lf = redis.call('HGETALL', lkey)
  local cur = {}
  local sf = redis.call('HGETALL', skey)
  for i = 1, #sf, 2 do
    cur[sf[i]] = sf[i + 1]
  end
  local set = {}
  for i = 1, #lf, 2 do
    local k, v = lf[i], lf[i + 1]
    local sv = cur[k]
    local take = false
    if string.sub(k, 1, 2) == 'f:' then
      take = (not sv) or tsOf(v) > tsOf(sv)
    elseif k == 'm:fs' then
      take = (not sv) or tonumber(v) < tonumber(sv)
    elseif k == 'm:ls' then
      take = (not sv) or tonumber(v) > tonumber(sv)
    elseif k == 'm:ids' then
      for suffix in string.gmatch(v, '[^\n]+') do
        point(suffix, s)
      end
      if sv and sv ~= '' then
        v = sv .. '\n' .. v
      end
      take = true
    end
    if take then
      set[#set + 1] = k
      set[#set + 1] = v
    end
  end
  if #set > 0 then
    redis.call('HSET', skey, unpack(set))
  end
  redis.call('DEL', lkey)
  redis.call('INCR', prefix .. 'gone')
  redis.call('SET', prefix .. 'merged:' .. l, s)
  redis.call('XADD', prefix .. 'merges', 'MAXLEN', '~', 10000, '*', 'loser', l, 'survivor', s)
end

local ids = {}
local merges = {}
for r = 1, n do
  local p = starts[r]
  local ts = ARGV[p]
  local nid = tonumber(ARGV[p + 1])
  local nkv = tonumber(ARGV[p + 2])
  local idStart = p + 3
  local kvStart = idStart + nid
  local kvEnd = kvStart + nkv - 1

  local id = nil
  local others = {}
  for j = idStart, kvStart - 1 do
    local f = index[ARGV[j]]
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

  if not id then
    nextId = nextId + 1
    id = tostring(nextId)
    for j = idStart, kvStart - 1 do
      point(ARGV[j], id)
    end
    redis.call('HSET', prefix .. 'p:' .. id, 'm:fs', ts, 'm:ls', ts,
      'm:ids', table.concat(ARGV, '\n', idStart, kvStart - 1), unpack(ARGV, kvStart, kvEnd))
  else
    local pkey = prefix .. 'p:' .. id
    local tsn = tonumber(ts)
    local meta = redis.call('HMGET', pkey, 'm:ls', 'm:fs', 'm:ids')
    -- Identities the profile does not hold yet.
    local add = {}
    for j = idStart, kvStart - 1 do
      local suffix = ARGV[j]
      if not index[suffix] then
        point(suffix, id)
        add[#add + 1] = suffix
      end
    end
    if #add > 0 then
      local list = table.concat(add, '\n')
      if meta[3] and meta[3] ~= '' then
        list = meta[3] .. '\n' .. list
      end
      redis.call('HSET', pkey, 'm:ids', list)
    end
    if (not meta[1]) or tsn >= tonumber(meta[1]) then
      -- As new as everything stored: every field wins.
      if meta[2] then
        redis.call('HSET', pkey, 'm:ls', ts, unpack(ARGV, kvStart, kvEnd))
      else
        redis.call('HSET', pkey, 'm:ls', ts, 'm:fs', ts, unpack(ARGV, kvStart, kvEnd))
      end
    else
      local hs = {}
      if tsn < tonumber(meta[2]) then
        hs[1] = 'm:fs'
        hs[2] = ts
      end
      if nkv > 0 then
        local names = {}
        for j = kvStart, kvEnd, 2 do
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
      if #hs > 0 then
        redis.call('HSET', pkey, unpack(hs))
      end
    end
  end
  ids[r] = id
end

if nextId > seq then
  redis.call('SET', seqKey, nextId)
end
for c = 1, #dirtyList, chunk do
  local hs = {}
  for k = c, math.min(c + chunk - 1, #dirtyList) do
    local suffix = dirtyList[k]
    hs[#hs + 1] = suffix
    hs[#hs + 1] = index[suffix]
  end
  redis.call('HSET', idsKey, unpack(hs))
end
return {ids, merges}
`)

// deleteScript forgets one profile: its hash and its identity index entries
// (those that still point at it), and counts it as gone.
//
// KEYS[1]: <prefix>p:<id>, the profile hash.
// ARGV[1]: the key prefix "<ns>:{<acct>}:"; the identity index and the gone
//
//	counter are built from it and share KEYS[1]'s hash tag.
//
// ARGV[2]: the profile id.
// Returns 1 when the profile existed, else 0.
var deleteScript = redis.NewScript(`
local prefix = ARGV[1]
local id = ARGV[2]
local list = redis.call('HGET', KEYS[1], 'm:ids')
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local idsKey = prefix .. 'ids'
for suffix in string.gmatch(list or '', '[^\n]+') do
  if redis.call('HGET', idsKey, suffix) == id then
    redis.call('HDEL', idsKey, suffix)
  end
end
redis.call('DEL', KEYS[1])
redis.call('INCR', prefix .. 'gone')
return 1
`)

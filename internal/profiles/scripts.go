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

// upsertScript applies a batch of prepared records to the profiles of one
// account in one round trip: identity resolution, profile creation, merges
// and newest-event-wins field writes. The identity index is read with one
// HMGET and written with one HSET per identity field and batch (in chunks),
// and a profile is one string in the form of stored.go, so a new profile
// costs one SET and a record only a few arguments. Store.Upsert runs it only for a
// batch whose optimistic commit (txwrite.go) lost three races. It bumps the
// write version, as every writer of profiles must.
//
// KEYS[1]: <prefix>seq, the account's profile id counter. Every other key is
//
//	built from ARGV[1] and shares KEYS[1]'s hash tag (see keys.go).
//
// ARGV[1]: the key prefix "<ns>:{<acct>}:".
// ARGV[2]: n, the number of records. Then per record:
//
//	ts (event time ms), id_count, id_count distinct identity suffixes
//	"field:value", and data: a JSON object of field -> "|<code><text>"
//	(the time of every value is ts).
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
redis.call('INCR', prefix .. 'pver')
local chunk = 1000

-- byField groups suffixes "field:value" by the index hash of their field:
-- {key, values, suffixes} in first-seen order.
local function byField(list)
  local groups, at = {}, {}
  for _, s in ipairs(list) do
    local c = string.find(s, ':', 1, true)
    local f = string.sub(s, 1, c - 1)
    local g = at[f]
    if not g then
      g = {key = prefix .. 'ids:' .. f, values = {}, suffixes = {}}
      at[f] = g
      groups[#groups + 1] = g
    end
    g.values[#g.values + 1] = string.sub(s, c + 1)
    g.suffixes[#g.suffixes + 1] = s
  end
  return groups
end

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
  for j = pos + 2, pos + 1 + nid do
    local s = ARGV[j]
    if not seen[s] then
      seen[s] = true
      suffixes[#suffixes + 1] = s
    end
  end
  pos = pos + 3 + nid
end

-- index: identity -> profile id (false when unknown), for the whole batch.
local index = {}
for _, g in ipairs(byField(suffixes)) do
  for c = 1, #g.values, chunk do
    local last = math.min(c + chunk - 1, #g.values)
    local got = redis.call('HMGET', g.key, unpack(g.values, c, last))
    for k = c, last do
      index[g.suffixes[k]] = got[k - c + 1]
    end
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

-- overlay copies the fields of src into dst where they are at least as new
-- (strictly newer when strict); it returns whether dst changed.
local function overlay(dst, src, strict)
  local changed = false
  for k, v in pairs(src) do
    local cur = dst[k]
    if not cur then
      dst[k] = v
      changed = true
    elseif cur ~= v then
      local a, b = tsOf(v), tsOf(cur)
      if a > b or (a == b and not strict) then
        dst[k] = v
        changed = true
      end
    end
  end
  return changed
end

-- decode decodes stored data; a value without a time ("|<code><text>")
-- gets base's.
local function decode(d, base)
  if d and d ~= '' and d ~= '{}' and d ~= '[]' then
    local m = cjson.decode(d)
    for k, v in pairs(m) do
      if string.sub(v, 1, 1) == '|' then
        m[k] = base .. v
      end
    end
    return m
  end
  return {}
end

-- parse and fmt read and write a stored profile (stored.go):
-- "<fs> <ls>[ <base>]\n<id>\n...<id>\n\n<data>". A missing one parses as
-- nil, nil, nil, '', ''; base is nil when there is none.
local function parse(v)
  if not v then return nil, nil, nil, '', '' end
  local nl = string.find(v, '\n', 1, true)
  local sp = string.find(v, ' ', 1, true)
  local e = string.find(v, '\n\n', nl, true)
  local ls, base = string.sub(v, sp + 1, nl - 1), nil
  local sp2 = string.find(ls, ' ', 1, true)
  if sp2 then
    ls, base = string.sub(ls, 1, sp2 - 1), string.sub(ls, sp2 + 1)
  end
  return string.sub(v, 1, sp - 1), ls, base, string.sub(v, nl + 1, e - 1), string.sub(v, e + 2)
end
local function fmt(fs, ls, base, ids, d)
  if ids ~= '' then ids = ids .. '\n' end
  local head = fs .. ' ' .. ls
  if base then head = head .. ' ' .. base end
  return head .. '\n' .. ids .. '\n' .. d
end

local function merge(s, l)
  local skey = prefix .. 'p:' .. s
  local lkey = prefix .. 'p:' .. l
  local sfs, sls, sbase, sids, sd = parse(redis.call('GET', skey))
  local lfs, lls, lbase, lids, ld = parse(redis.call('GET', lkey))
  local data = decode(sd, sbase)
  overlay(data, decode(ld, lbase), true)
  local fs, ls = sfs, sls
  if lfs and ((not fs) or tonumber(lfs) < tonumber(fs)) then fs = lfs end
  if lls and ((not ls) or tonumber(lls) > tonumber(ls)) then ls = lls end
  local ids = sids
  if lids ~= '' then
    for suffix in string.gmatch(lids, '[^\n]+') do
      point(suffix, s)
    end
    if ids ~= '' then ids = ids .. '\n' .. lids else ids = lids end
  end
  redis.call('SET', skey, fmt(fs or '0', ls or '0', nil, ids, cjson.encode(data)))
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
  local idStart = p + 2
  local idEnd = idStart + nid - 1
  local data = ARGV[idEnd + 1]

  local id = nil
  local others = {}
  for j = idStart, idEnd do
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
    -- A new profile: the record's fields are stored as they come.
    nextId = nextId + 1
    id = tostring(nextId)
    for j = idStart, idEnd do
      point(ARGV[j], id)
    end
    redis.call('SET', prefix .. 'p:' .. id, fmt(ts, ts, ts, table.concat(ARGV, '\n', idStart, idEnd), data))
  else
    local pkey = prefix .. 'p:' .. id
    local tsn = tonumber(ts)
    local fs, ls, base, list, d = parse(redis.call('GET', pkey))
    local changed = false
    -- Identities the profile does not hold yet.
    local add = {}
    for j = idStart, idEnd do
      local suffix = ARGV[j]
      if not index[suffix] then
        point(suffix, id)
        add[#add + 1] = suffix
      end
    end
    if #add > 0 then
      local more = table.concat(add, '\n')
      if list ~= '' then list = list .. '\n' .. more else list = more end
      changed = true
    end
    if (not ls) or tsn > tonumber(ls) then
      ls = ts
      changed = true
    end
    if (not fs) or tsn < tonumber(fs) then
      fs = ts
      changed = true
    end
    if data ~= '{}' then
      local cur = decode(d, base)
      if overlay(cur, decode(data, ts), false) then
        d = cjson.encode(cur) -- every time written out
        base = nil
        changed = true
      end
    end
    if changed then
      redis.call('SET', pkey, fmt(fs, ls, base, list, d))
    end
  end
  ids[r] = id
end

if nextId > seq then
  redis.call('SET', seqKey, nextId)
end
for _, g in ipairs(byField(dirtyList)) do
  for c = 1, #g.values, chunk do
    local hs = {}
    for k = c, math.min(c + chunk - 1, #g.values) do
      hs[#hs + 1] = g.values[k]
      hs[#hs + 1] = index[g.suffixes[k]]
    end
    redis.call('HSET', g.key, unpack(hs))
  end
end
return {ids, merges}
`)

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

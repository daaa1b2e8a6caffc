package audiences

import "github.com/redis/go-redis/v9"

// membershipScript applies membership decisions for a batch of profiles and
// appends every enter and exit to the change log in the same atomic step, so
// the bitmaps and the log never disagree. It diffs against each profile's
// current bits itself, so concurrent writers cannot log a change twice. Log
// entries use the field names of package changelog (changelog.FieldAudience
// "a", FieldProfile "p", FieldOp "op", FieldTime "t").
//
// Fast path: in "hook" mode (every rule audience decided from the profile's
// data) the script stores, per profile, the signature "<version>:<spec>" of
// what it decided; a profile whose signature is unchanged is skipped without
// reading its bits. Every other run that changes a profile's membership
// drops its signature.
//
// KEYS[1] definitions version, KEYS[2] change log stream, KEYS[3] signature
// hash, KEYS[3+j] member bitmap of scope audience j (j = 1..A).
//
// ARGV[1] expected version ("" skips the check), ARGV[2] time (Unix ms) for
// the log, ARGV[3] A, ARGV[4] N, ARGV[5] mode ("hook" or "set"),
// ARGV[5+j] slug of audience j, ARGV[5+A+j] "1" if audience j is decided by
// the spec of a live profile, "0" if it is only left when the profile is gone
// (list audiences during a profile change). ARGV[6+2A+2(i-1)] and the next:
// id (a number: its bit) and spec of profile i; then ARGV[6+2A+2N+(m-1)]:
// the survivor id of the m-th merged profile.
//
// spec "D": the profile is deleted: it exits every scope audience it is in.
// "M": it was merged away: the same, and its survivor enters the "0" (list)
// audiences it was in. Any other spec: one character per scope audience,
// "1" if the profile is in audience j now, else "0" (ignored for "0"
// audiences); the profile enters or exits accordingly. (Profiles that a
// write creates get their first memberships in the write itself: see
// Service.CreatedWrites.)
//
// The changes of one profile in one direction are logged as one entry whose
// audience field lists their slugs comma-separated (package changelog
// expands it).
//
// Returns {entered, exited}, or the error "STALE" when the version differs.
var membershipScript = redis.NewScript(`
local A, N, hook = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == 'hook'
if ARGV[1] ~= '' then
  local v = redis.call('GET', KEYS[1]) or '0'
  if v ~= ARGV[1] then return redis.error_reply('STALE audience definitions changed') end
end
local now = ARGV[2]
local entered, exited, merges = 0, 0, 0
-- Log entries waiting for the end of the current profile: consecutive
-- changes of one profile in one direction share one entry.
local pend = {}
local function log(op, j, id)
  local last = pend[#pend]
  if last and last[1] == id and last[2] == op then
    last[3][#last[3] + 1] = ARGV[5 + j]
  else
    pend[#pend + 1] = {id, op, {ARGV[5 + j]}}
  end
end
local function flush()
  for _, e in ipairs(pend) do
    redis.call('XADD', KEYS[2], '*', 'a', table.concat(e[3], ','), 'p', e[1], 'op', e[2], 't', now)
  end
  pend = {}
end
local function isin(j, id)
  return redis.call('GETBIT', KEYS[3 + j], id) == 1
end
local function enter(j, id)
  redis.call('SETBIT', KEYS[3 + j], id, 1)
  log('enter', j, id)
  entered = entered + 1
end
local function exit(j, id)
  redis.call('SETBIT', KEYS[3 + j], id, 0)
  log('exit', j, id)
  exited = exited + 1
end
local base = 6 + 2 * A
for i = 1, N do
  local id, spec = ARGV[base + 2 * (i - 1)], ARGV[base + 2 * (i - 1) + 1]
  if spec == 'D' or spec == 'M' then
    local surv
    if spec == 'M' then
      merges = merges + 1
      surv = ARGV[base + 2 * N + merges - 1]
    end
    for j = 1, A do
      if isin(j, id) then
        exit(j, id)
        if surv and ARGV[5 + A + j] == '0' and not isin(j, surv) then
          enter(j, surv)
          redis.call('HDEL', KEYS[3], surv)
        end
      end
    end
    redis.call('HDEL', KEYS[3], id)
  else
    local sig
    if hook then sig = ARGV[1] .. ':' .. spec end
    if not (sig and redis.call('HGET', KEYS[3], id) == sig) then
      local before = entered + exited
      for j = 1, A do
        if ARGV[5 + A + j] == '1' then
          local want, have = string.byte(spec, j) == 49, isin(j, id)
          if want and not have then
            enter(j, id)
          elseif have and not want then
            exit(j, id)
          end
        end
      end
      if sig then
        redis.call('HSET', KEYS[3], id, sig)
      elseif entered + exited > before then
        redis.call('HDEL', KEYS[3], id)
      end
    end
  end
  flush()
end
return {entered, exited}
`)

// defScript changes audience definitions and bumps the version in one step.
//
// KEYS[1] definitions hash, KEYS[2] version.
// ARGV[1] mode:
//
//	"create" ARGV[2] slug, ARGV[3] JSON: adds it unless the slug exists
//	"ensure" ARGV[2..] slug, JSON pairs: adds those missing
//	"update" ARGV[2] slug, ARGV[3] JSON: replaces it if the slug exists
//	"delete" ARGV[2] slug: removes it
//
// Returns the number of definitions changed; 0 for create when the slug
// exists, for update and delete when it does not. The version is incremented
// when anything changed.
var defScript = redis.NewScript(`
local mode, changed = ARGV[1], 0
if mode == 'create' then
  changed = redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3])
elseif mode == 'ensure' then
  for i = 2, #ARGV, 2 do
    changed = changed + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
elseif mode == 'update' then
  if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
    changed = 1
  end
elseif mode == 'delete' then
  changed = redis.call('HDEL', KEYS[1], ARGV[2])
else
  return redis.error_reply('unknown mode ' .. mode)
end
if changed > 0 then redis.call('INCR', KEYS[2]) end
return changed
`)

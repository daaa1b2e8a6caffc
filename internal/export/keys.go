package export

import (
	"strconv"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Keys of one export job, all under the account's hash tag:
//
//	export:<job>:dirty     ZSET profile id -> ms since it first waited
//	export:<job>:inflight  ZSET profile id -> lease deadline (ms)
//	export:<job>:sent      HASH profile id -> state Braze last accepted,
//	                       and when (see acceptedTag)
//	export:<job>:omitted   SET  profile ids omitted for want of an identifier
//	export:<job>:errors    HASH profile id -> the message of Braze's last
//	                       rejection of the user's object and its time
//	                       (JSON), at most maxUserErrors users
//	export:<job>:state     HASH run, backfill cursor and audiences, counts,
//	                       retired audiences, flush request, identifier
//	                       ("<kind>=<field>") the omitted set was made with
//	export:<job>:slot:<n>  STRING token of the sender holding slot n (PX lease)
//	export:<job>:walker    STRING token of the backfill task walking (PX lease)
//
// and one global set of active export jobs ("<account>/<job>") that the
// scheduler's pump walks.
type keys struct{ ns keyspace.Namespace }

func (k keys) dirty(acct, job string) string    { return k.ns.Account(acct, "export", job, "dirty") }
func (k keys) inflight(acct, job string) string { return k.ns.Account(acct, "export", job, "inflight") }
func (k keys) sent(acct, job string) string     { return k.ns.Account(acct, "export", job, "sent") }
func (k keys) state(acct, job string) string    { return k.ns.Account(acct, "export", job, "state") }
func (k keys) omitted(acct, job string) string  { return k.ns.Account(acct, "export", job, "omitted") }
func (k keys) errors(acct, job string) string   { return k.ns.Account(acct, "export", job, "errors") }
func (k keys) active() string                   { return k.ns.Global("exports") }
func (k keys) walker(acct, job string) string   { return k.ns.Account(acct, "export", job, "walker") }
func (k keys) slot(acct, job string, n int) string {
	return k.ns.Account(acct, "export", job, "slot", strconv.Itoa(n))
}

// luaBulk defines two helpers of the scripts below: bulk(cmd, key, args,
// flag) calls cmd once per 4,000 arguments (under Lua's stack limit) rather
// than once per member, and mscore(key, members) returns their scores
// (ZMSCORE, false for none) in as few calls.
const luaBulk = `
local function bulk(cmd, key, args, flag)
  for i = 1, #args, 4000 do
    local j = math.min(i + 3999, #args)
    if flag then redis.call(cmd, key, flag, unpack(args, i, j))
    else redis.call(cmd, key, unpack(args, i, j)) end
  end
end
local function mscore(key, members)
  local out = {}
  for i = 1, #members, 4000 do
    local part = redis.call('ZMSCORE', key, unpack(members, i, math.min(i + 3999, #members)))
    for k = 1, #part do out[#out+1] = part[k] end
  end
  return out
end
`

// claimScript leases up to count waiting users to one sender. Leases that
// expired (a sender that died) first go back to waiting. A waiting user
// whose lease is still held (it changed, or was walked again, while in
// flight) is not leased twice: two batches in flight for one user would
// leave what Braze holds to the order it accepted them in. It waits until
// that lease ends instead (its score becomes the lease's deadline, and
// completeScript makes it due at once when the batch completes).
//
// KEYS[1] dirty, KEYS[2] inflight. ARGV[1] now (ms), ARGV[2] lease (ms),
// ARGV[3] count. Returns the claimed profile ids.
var claimScript = redis.NewScript(luaBulk + `
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
if #expired > 0 then
  local z = {}
  for _, m in ipairs(expired) do z[#z+1] = now; z[#z+1] = m end
  bulk('ZADD', KEYS[1], z, 'NX')
  bulk('ZREM', KEYS[2], expired)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local ms, later = {}, {}
if #due > 0 then
  local held = mscore(KEYS[2], due)
  for k = 1, #due do
    if held[k] and tonumber(held[k]) > now then later[#later+1] = held[k]; later[#later+1] = due[k]
    else ms[#ms+1] = due[k] end
  end
  bulk('ZADD', KEYS[1], later, 'XX')
end
if #ms > 0 then
  bulk('ZREM', KEYS[1], ms)
  local deadline = now + tonumber(ARGV[2])
  local z = {}
  for _, m in ipairs(ms) do z[#z+1] = deadline; z[#z+1] = m end
  bulk('ZADD', KEYS[2], z)
end
return ms`)

// markScript marks users as waiting (a backfill), except those leased to a
// sender now.
//
// KEYS[1] dirty, KEYS[2] inflight. ARGV[1] now (ms), then profile ids.
// Returns how many it marked.
var markScript = redis.NewScript(luaBulk + `
local ids = {}
for i = 2, #ARGV do ids[#ids+1] = ARGV[i] end
local scores = mscore(KEYS[2], ids)
local z = {}
for k = 1, #ids do
  if not scores[k] then z[#z+1] = ARGV[1]; z[#z+1] = ids[k] end
end
bulk('ZADD', KEYS[1], z, 'NX')
return #z / 2`)

// releaseScript gives leased users back to waiting (a failed request), each
// only if its lease is still the caller's.
//
// KEYS[1] dirty, KEYS[2] inflight. ARGV[1] now (ms), then pairs: profile id,
// lease deadline (ms). Returns how many were released.
var releaseScript = redis.NewScript(`
local n = 0
for i = 2, #ARGV, 2 do
  local sc = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if sc and tonumber(sc) == tonumber(ARGV[i+1]) then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n`)

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

// completeScript ends the leases of a batch. For each user whose lease is
// still the caller's (inflight score == its deadline) it applies the outcome
// to the sent HASH and ends the lease. A user whose lease was lost (expired
// and possibly claimed again) goes back to waiting, so that its current
// state is sent again after this batch's request, whatever the order in
// which Braze saw them. Its sent state becomes uncertain ("~" and the
// states Braze may hold, newest first, separated by RS): the batch's, if
// it sent one, and the one recorded (see parseStates), so that the next
// object clears whatever either wrote. A lost user the batch sent nothing
// for keeps its state; one whose state the batch forgot (op "d") loses it.
//
// A user omitted for want of an identifier joins the omitted SET, to be
// considered again when the job's identifier changes (see syncIdentifier);
// if it changed since the batch was planned (the state's "ident" is not the
// batch's), the user waits again instead. Any other outcome takes the user
// out of the omitted SET.
//
// The batch's counters are added to the job's current run in the same step
// (KEYS[6], when there is one), with the leases lost: a worker that dies
// after the step has counted what it recorded, and one that dies before
// it has recorded and counted nothing, and its users are sent and counted
// again.
//
// KEYS[1] dirty, KEYS[2] inflight, KEYS[3] sent, KEYS[4] omitted, KEYS[5]
// state, KEYS[6] the run's hash (optional). ARGV[1] now (ms), ARGV[2] the
// batch's identifier ("<kind>=<field>"), ARGV[3] the run's field of leases
// lost, ARGV[4] n, then n pairs of run hash field and increment, then
// quadruples: profile id, lease deadline (ms), op ("s" remember the
// state, with the time Braze accepted it appended (see acceptedTag), "d"
// forget it, "k" keep it, "o" omitted for want of an identifier), state.
// A lost lease whose batch Braze accepted makes the user's state uncertain:
// "~" and the batch's state, then what was recorded before (at most 8
// candidates, newest first), so that the next object clears what either
// wrote. Returns how many leases were lost.
var completeScript = redis.NewScript(luaBulk + `
local lost = 0
local now = ARGV[1]
local ident = redis.call('HGET', KEYS[5], 'ident')
local sameIdent = (not ident) or ident == ARGV[2]
local anyOmitted = redis.call('EXISTS', KEYS[4]) == 1
local first = 5 + 2 * tonumber(ARGV[4])
local ids = {}
for i = first, #ARGV, 4 do ids[#ids+1] = ARGV[i] end
local scores = mscore(KEYS[2], ids)
local hset, hdel, uncertain, forget, sadd, srem, zrem, wait = {}, {}, {}, {}, {}, {}, {}, {}
for k = 1, #ids do
  local i = first + (k - 1) * 4
  local id, op = ids[k], ARGV[i+2]
  local sc = scores[k]
  if sc and tonumber(sc) == tonumber(ARGV[i+1]) then
    if op == 's' then hset[#hset+1] = id; hset[#hset+1] = ARGV[i+3] .. '\31t:' .. now
    elseif op == 'd' then hdel[#hdel+1] = id end
    if op == 'o' then
      if sameIdent then sadd[#sadd+1] = id
      else wait[#wait+1] = now; wait[#wait+1] = id end
    elseif anyOmitted then
      srem[#srem+1] = id
    end
    zrem[#zrem+1] = id
  else
    lost = lost + 1
    if op == 's' then uncertain[#uncertain+1] = i
    elseif op == 'd' then forget[#forget+1] = id end
    wait[#wait+1] = now; wait[#wait+1] = id
  end
end
bulk('HSET', KEYS[3], hset)
bulk('HDEL', KEYS[3], hdel)
-- After HSET, so that a user leased twice in one call whose other lease
-- was lost keeps both candidates.
for _, i in ipairs(uncertain) do
  local v = '~' .. ARGV[i+3]
  local cur = redis.call('HGET', KEYS[3], ARGV[i])
  if cur then
    local n = 1
    for st in string.gmatch(string.gsub(cur, '^~', ''), '[^\30]+') do
      if n < 8 then v = v .. '\30' .. st end
      n = n + 1
    end
  end
  redis.call('HSET', KEYS[3], ARGV[i], v)
end
bulk('HDEL', KEYS[3], forget)
bulk('SADD', KEYS[4], sadd)
bulk('SREM', KEYS[4], srem)
bulk('ZREM', KEYS[2], zrem)
-- A user that changed while this batch was in flight waits until the
-- lease's deadline (claimScript): due now that the lease has ended.
local due = {}
for _, id in ipairs(zrem) do due[#due+1] = now; due[#due+1] = id end
bulk('ZADD', KEYS[1], due, 'XX')
bulk('ZADD', KEYS[1], wait, 'NX')
if KEYS[6] then
  for i = 5, first - 1, 2 do redis.call('HINCRBY', KEYS[6], ARGV[i], ARGV[i+1]) end
  if lost > 0 then redis.call('HINCRBY', KEYS[6], ARGV[3], lost) end
end
return lost`)

// hdelIfScript removes a field of a hash if it still holds the value a plan
// read: the job's current run (a job run task may have attached its own
// since) or its flush request (one may have been made since).
//
// KEYS[1] hash. ARGV[1] field, ARGV[2] value. Returns 1 when removed.
var hdelIfScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`)

// swapRunScript makes ARGV[1] the job's current run, with ARGV[2] its flush
// request, and returns the run it replaces (false when none), in one step:
// a plan cannot start a run in between that the new one would overwrite
// unseen, nor find the new run without its flush and close it at once.
//
// KEYS[1] job state. ARGV[1] run id, ARGV[2] flush token.
var swapRunScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'run')
redis.call('HSET', KEYS[1], 'run', ARGV[1], 'flush', ARGV[2])
return old`)

// reconsiderScript records the job's identifier ("<kind>=<field>") and, if
// it changed, moves up to ARGV[3] users of the omitted SET back to waiting.
// Called until it returns 0, it moves them all in bounded steps.
//
// KEYS[1] state, KEYS[2] omitted, KEYS[3] dirty. ARGV[1] identifier,
// ARGV[2] now (ms), ARGV[3] count. Returns how many users it moved.
var reconsiderScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'ident') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'ident', ARGV[1], 'reconsider', '1')
end
if redis.call('HGET', KEYS[1], 'reconsider') ~= '1' then return 0 end
local ms = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
for _, m in ipairs(ms) do redis.call('ZADD', KEYS[3], 'NX', ARGV[2], m) end
if #ms == 0 then redis.call('HDEL', KEYS[1], 'reconsider') end
return #ms`)

// userErrorsScript records Braze's rejections of users' objects, keeping at
// most ARGV[1] users: when there are more, random others are forgotten.
//
// KEYS[1] errors. ARGV[1] the most users kept, then pairs: profile id,
// error (JSON). Returns how many users were forgotten.
var userErrorsScript = redis.NewScript(`
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
local over = redis.call('HLEN', KEYS[1]) - tonumber(ARGV[1])
if over <= 0 then return 0 end
local drop = redis.call('HRANDFIELD', KEYS[1], over)
for _, f in ipairs(drop) do redis.call('HDEL', KEYS[1], f) end
return #drop`)

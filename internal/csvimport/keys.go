package csvimport

import (
	"strconv"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Redis keys of one import job, all under the account's hash tag.

// ledgerKey: hash, field = file version id, value = JSON Entry.
func ledgerKey(ns keyspace.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "ledger")
}

// diffSeqKey: counter of diff generations.
func diffSeqKey(ns keyspace.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "diff", "seq")
}

// diffCurrentKey: string, the generation of the last fully applied file.
func diffCurrentKey(ns keyspace.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "diff", "current")
}

// diffGenKey: hash, field = 8-byte digest of a row's identity, value =
// 8-byte digest of the row's values, as applied in generation gen.
func diffGenKey(ns keyspace.Namespace, account, job string, gen int64) string {
	return ns.Account(account, "csvimport", job, "diff", "gen", strconv.FormatInt(gen, 10))
}

// jobLockKey: string, the token of the process holding the job's lease
// (importing its files); it expires unless renewed.
func jobLockKey(ns keyspace.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "lock")
}

// jobHolderKey: string, JSON Holder of the lease's holder; deleted when it
// releases the lease, so that it outlives the lease only when the holder
// died holding it.
func jobHolderKey(ns keyspace.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "holder")
}

// acquireLeaseScript takes a free lease and records its holder.
//
// KEYS[1]: the lock key; KEYS[2]: the holder key. ARGV[1]: token; ARGV[2]:
// lease time to live (ms); ARGV[3]: the holder's JSON; ARGV[4]: the
// holder record's time to live (ms).
// Returns: {1, previous holder JSON or ""} when taken (a previous holder
// record means that holder died holding the lease), {0, ""} when held.
var acquireLeaseScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, ''}
end
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if not prev then prev = '' end
return {1, prev}
`)

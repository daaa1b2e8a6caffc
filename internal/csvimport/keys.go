package csvimport

import (
	"strconv"

	"github.com/brazesync/brazesync/internal/store"
	"github.com/redis/go-redis/v9"
)

// Redis keys of one import job, all under the account's hash tag.

// ledgerKey: hash, field = file version id, value = JSON Entry.
func ledgerKey(ns store.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "ledger")
}

// diffSeqKey: counter of diff generations.
func diffSeqKey(ns store.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "diff", "seq")
}

// diffCurrentKey: string, the generation of the last fully applied file.
func diffCurrentKey(ns store.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "diff", "current")
}

// diffGenKey: hash, field = 8-byte digest of a row's identity, value =
// 8-byte digest of the row's values, as applied in generation gen.
func diffGenKey(ns store.Namespace, account, job string, gen int64) string {
	return ns.Account(account, "csvimport", job, "diff", "gen", strconv.FormatInt(gen, 10))
}

// jobLockKey: string, the token of the process importing a file of the job.
func jobLockKey(ns store.Namespace, account, job string) string {
	return ns.Account(account, "csvimport", job, "lock")
}

// renewLockScript extends a lock still held by this token.
//
// KEYS[1]: the lock key. ARGV[1]: token; ARGV[2]: time to live (ms).
// Returns: 1 when renewed, 0 when the lock is gone or held by another.
var renewLockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseLockScript deletes a lock held by this token.
//
// KEYS[1]: the lock key. ARGV[1]: token.
// Returns: 1 when released, 0 when the lock was not ours (any more).
var releaseLockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

package sftpd

import (
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// keys builds every Redis key of the managed SFTP server.
//
// Global keys (single-key operations only):
//
//	<ns>:sftp:user:<username>          string: the account that owns username
//	<ns>:sftp:hostkey                  string: the sealed ed25519 host key seed
//	<ns>:sftp:fail:user:<username>     hash: failed password logins of a username
//	<ns>:sftp:fail:useraddr:<username>:<ip>  hash: failed password logins of a username from an address
//	<ns>:sftp:fail:addr:<ip>           hash: failed logins of unknown usernames from an address
//
// Account keys (hash-tagged by the account):
//
//	<ns>:{acct}:sftp:users                  set: the account's usernames
//	<ns>:{acct}:sftp:user:<username>        hash: the user record
//	<ns>:{acct}:sftp:user:<username>:keys   hash: SHA256 fingerprint -> authorized key
type keys struct{ ns keyspace.Namespace }

func (k keys) userIndex(username string) string { return k.ns.Global("sftp", "user", username) }
func (k keys) hostKey() string                  { return k.ns.Global("sftp", "hostkey") }
func (k keys) failUser(username string) string  { return k.ns.Global("sftp", "fail", "user", username) }
func (k keys) failAddr(ip string) string        { return k.ns.Global("sftp", "fail", "addr", ip) }
func (k keys) failUserAddr(username, ip string) string {
	return k.ns.Global("sftp", "fail", "useraddr", username, ip)
}

func (k keys) accountUsers(acct string) string { return k.ns.Account(acct, "sftp", "users") }
func (k keys) user(acct, username string) string {
	return k.ns.Account(acct, "sftp", "user", username)
}
func (k keys) userKeys(acct, username string) string {
	return k.ns.Account(acct, "sftp", "user", username, "keys")
}

// Fields of the user record hash.
const (
	fieldAuthID    = "auth_id"
	fieldPassword  = "password_bcrypt"
	fieldCreatedAt = "created_at"
)

// failureScript records one failed login against one counter (a username,
// a username from an address, or an address) and locks the counter once it reaches the limit. The counter
// is forgotten window milliseconds after the last failure; a lock lasts
// lockout milliseconds (the key's TTL is the remaining lock time), after
// which the counter starts again from zero. While locked, failures are not
// counted again.
//
// KEYS[1]: the failure hash. ARGV[1]: window ms, ARGV[2]: max failures,
// ARGV[3]: lockout ms.
// Returns {failures, lock remaining ms (0 if not locked), 1 if this failure
// set the lock else 0}.
var failureScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'locked') == '1' then
  local n = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return {n, ttl, 0}
end
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
if n >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'locked', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {n, tonumber(ARGV[3]), 1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {n, 0, 0}`)

// lockStateScript reads one failure counter.
//
// KEYS[1]: the failure hash.
// Returns {failures, lock remaining ms (0 if not locked)}.
var lockStateScript = redis.NewScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if redis.call('HGET', KEYS[1], 'locked') == '1' then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return {n, ttl}
end
return {n, 0}`)

// clearUnlessLockedScript forgets a counter's failures after a successful
// login, unless the counter is locked.
//
// KEYS[1]: the failure hash.
// Returns 1 if the counter was cleared, 0 otherwise.
var clearUnlessLockedScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'locked') == '1' then
  return 0
end
return redis.call('DEL', KEYS[1])`)

package audiences

import (
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
)

// Redis keys of the audiences package, all under the account's hash tag so
// that the membership script (which touches definitions, member bitmaps and
// the change log together) stays in one slot:
//
//	<ns>:{acct}:aud:defs            hash    slug -> Audience JSON (definitions)
//	<ns>:{acct}:aud:version         string  INCR on every definition change;
//	                                        in-memory caches compare it
//	<ns>:{acct}:aud:b:<slug>        string  member bitmap: bit <profile id> is 1
//	                                        when the profile is a member (profile
//	                                        ids are dense numbers, see profiles)
//	<ns>:{acct}:aud:progress:<slug> hash    progress of the latest re-evaluation
//	<ns>:{acct}:aud:sig             hash    profile id -> "<version>:<spec>" last
//	                                        decided by a profile change (fast path)
//	<ns>:{acct}:changelog           stream  the change log (package changelog)
type keys struct{ ns keyspace.Namespace }

func (k keys) defs(acct string) string    { return k.ns.Account(acct, "aud", "defs") }
func (k keys) version(acct string) string { return k.ns.Account(acct, "aud", "version") }
func (k keys) members(acct, slug string) string {
	return k.ns.Account(acct, "aud", "b", slug)
}
func (k keys) progress(acct, slug string) string {
	return k.ns.Account(acct, "aud", "progress", slug)
}
func (k keys) sig(acct string) string       { return k.ns.Account(acct, "aud", "sig") }
func (k keys) changelog(acct string) string { return changelog.StreamKey(k.ns, acct) }

// Keys of builds before member bitmaps, read and removed only by
// MigrateMemberSets: a sorted set of member ids per audience and a set of
// slugs per profile.
func (k keys) legacyMembers(acct, slug string) string {
	return k.ns.Account(acct, "aud", "m", slug)
}
func (k keys) legacyProfile(acct, id string) string {
	return k.ns.Account(acct, "aud", "p", id)
}

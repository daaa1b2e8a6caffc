package audiences

import (
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/store"
)

// Redis keys of the audiences package, all under the account's hash tag so
// that the membership script (which touches definitions, member sets,
// profile sets and the change log together) stays in one slot:
//
//	<ns>:{acct}:aud:defs            hash    slug -> Audience JSON (definitions)
//	<ns>:{acct}:aud:version         string  INCR on every definition change;
//	                                        in-memory caches compare it
//	<ns>:{acct}:aud:m:<slug>        zset    member profile ids, all score 0
//	                                        (ordered by id for cursor paging)
//	<ns>:{acct}:aud:p:<profile id>  set     slugs of the audiences the profile is in
//	<ns>:{acct}:aud:progress:<slug> hash    progress of the latest re-evaluation
//	<ns>:{acct}:aud:sig             hash    profile id -> "<version>:<spec>" last
//	                                        decided by a profile change (fast path)
//	<ns>:{acct}:changelog           stream  the change log (package changelog)
type keys struct{ ns store.Namespace }

func (k keys) defs(acct string) string    { return k.ns.Account(acct, "aud", "defs") }
func (k keys) version(acct string) string { return k.ns.Account(acct, "aud", "version") }
func (k keys) members(acct, slug string) string {
	return k.ns.Account(acct, "aud", "m", slug)
}
func (k keys) profile(acct, id string) string { return k.ns.Account(acct, "aud", "p", id) }
func (k keys) progress(acct, slug string) string {
	return k.ns.Account(acct, "aud", "progress", slug)
}
func (k keys) sig(acct string) string       { return k.ns.Account(acct, "aud", "sig") }
func (k keys) changelog(acct string) string { return changelog.StreamKey(k.ns, acct) }

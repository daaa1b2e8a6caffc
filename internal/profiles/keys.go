package profiles

import "github.com/brazesync/brazesync/internal/store"

// Redis keys of the profiles package. Every key belongs to one account and
// carries its hash tag, so the Lua scripts below touch one slot only. The
// scripts build the same names from keyPrefix; keep both in step.
//
//	<prefix>seq               string  last profile id handed out (INCR)
//	<prefix>profiles          zset    every live profile id, scored by its number
//	<prefix>p:<id>            hash    one profile: "f:<field>" -> "<ms>|<code><text>",
//	                                  "i:<field>:<value>" -> ms the identity was seen,
//	                                  "m:fs"/"m:ls" -> first/last seen (ms)
//	<prefix>x:<field>:<value> string  identity index: the profile id holding it
//	<prefix>merged:<id>       string  survivor of a merged-away profile
//	<prefix>merges            stream  merge log (loser, survivor), capped
//	<prefix>mapping:<stream>  string  the stream's Mapping as JSON
type keys struct {
	ns store.Namespace
}

// prefix is "<ns>:{<acct>}:", the start of every key of the account.
func (k keys) prefix(acct string) string { return k.ns.Account(acct) + ":" }

func (k keys) seq(acct string) string      { return k.ns.Account(acct, "seq") }
func (k keys) profiles(acct string) string { return k.ns.Account(acct, "profiles") }
func (k keys) profile(acct, id string) string {
	return k.ns.Account(acct, "p", id)
}

// index is the identity index key; the value may contain ':' and is the last part.
func (k keys) index(acct, field, value string) string {
	return k.ns.Account(acct, "x", field, value)
}
func (k keys) merged(acct, id string) string { return k.ns.Account(acct, "merged", id) }
func (k keys) merges(acct string) string     { return k.ns.Account(acct, "merges") }
func (k keys) mapping(acct, stream string) string {
	return k.ns.Account(acct, "mapping", stream)
}

// Hash field names inside a profile hash.
const (
	hashFieldPrefix    = "f:"
	hashIdentityPrefix = "i:"
	hashFirstSeen      = "m:fs"
	hashLastSeen       = "m:ls"
)

// mergeLogLength caps the merge log stream (approximately).
const mergeLogLength = 10000

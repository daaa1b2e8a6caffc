package profiles

import "github.com/brazesync/brazesync/internal/keyspace"

// Redis keys of the profiles package. Every key belongs to one account and
// carries its hash tag, so every transaction and script touches one slot
// only. The delete script builds the same names from prefix; keep both in
// step.
//
//	<prefix>seq               string  last profile id handed out (INCR); ids are dense
//	<prefix>pver              string  write version: bumped by every write of profiles or ids
//	<prefix>pguard            string  touched to abort a stale optimistic commit (see commit)
//	<prefix>powner            string  token of the last linked commit (see chainLink)
//	<prefix>pturn             string  token of the writer holding the write turn (see turn.go)
//	<prefix>gone              string  profiles deleted or merged away (Count = seq - gone)
//	<prefix>ids:<field>       hash    identity index of one identity field: value -> profile id
//	                                  (see index.go)
//	<prefix>ids               hash    the index of earlier builds: "<field>:<value>" -> id
//	                                  (MigrateIndex moves it)
//	<prefix>p:<id>            string  one profile: first and last seen, identities and data
//	                                  (see stored.go)
//	<prefix>merged:<id>       string  survivor of a merged-away profile
//	<prefix>merges            stream  merge log (loser, survivor), capped
//	<prefix>mapping:<stream>  string  the stream's Mapping as JSON
type keys struct {
	ns keyspace.Namespace
}

// prefix is "<ns>:{<acct>}:", the start of every key of the account.
func (k keys) prefix(acct string) string { return k.ns.Account(acct) + ":" }

func (k keys) seq(acct string) string   { return k.ns.Account(acct, "seq") }
func (k keys) pver(acct string) string  { return k.ns.Account(acct, "pver") }
func (k keys) gone(acct string) string  { return k.ns.Account(acct, "gone") }
func (k keys) guard(acct string) string { return k.ns.Account(acct, "pguard") }
func (k keys) owner(acct string) string { return k.ns.Account(acct, "powner") }
func (k keys) turn(acct string) string  { return k.ns.Account(acct, "pturn") }
func (k keys) index(acct, field string) string {
	return k.ns.Account(acct, "ids", field)
}
func (k keys) legacyIndex(acct string) string { return k.ns.Account(acct, "ids") }
func (k keys) profile(acct, id string) string {
	return k.ns.Account(acct, "p", id)
}
func (k keys) merged(acct, id string) string { return k.ns.Account(acct, "merged", id) }
func (k keys) merges(acct string) string     { return k.ns.Account(acct, "merges") }
func (k keys) mapping(acct, stream string) string {
	return k.ns.Account(acct, "mapping", stream)
}

// identitySuffix is the identity index field (and stored identity) of a value.
func identitySuffix(field, value string) string { return field + ":" + value }

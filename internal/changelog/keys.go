package changelog

import "github.com/brazesync/brazesync/internal/keyspace"

// Key names of the change log. Every key is under the account's hash tag, so
// the stream, the consumer cursors and the audience membership sets written
// together with the stream all live in one Redis Cluster slot.

// StreamKey is the Redis Stream that holds the account's change log. The
// audiences package appends to it from its membership script, in the same
// atomic step as the membership change.
func StreamKey(ns keyspace.Namespace, acct string) string { return ns.Account(acct, "changelog") }

// consumersKey is a hash: consumer name -> stream ID of the last entry the
// consumer has committed.
func consumersKey(ns keyspace.Namespace, acct string) string {
	return ns.Account(acct, "changelog", "consumers")
}

// metaKey is a hash with field "trimmed_through": the highest stream ID ever
// removed by Trim, used to tell a consumer that it missed entries.
func metaKey(ns keyspace.Namespace, acct string) string { return ns.Account(acct, "changelog", "meta") }

// Field names of one stream entry. Writers outside this package (the audiences
// membership script) must use exactly these.
const (
	FieldAudience = "a"  // audience slug, or several joined by ","
	FieldProfile  = "p"  // profile id, or several joined by ","
	FieldOp       = "op" // "enter" or "exit"
	FieldTime     = "t"  // time of the change, Unix milliseconds
)

// MaxProfilesPerEntry bounds the profiles one stream entry lists, so that a
// Read of n stream entries gives at most n × MaxProfilesPerEntry × (its
// audiences) entries.
const MaxProfilesPerEntry = 50

// Package keyspace gives every brazesync Redis key its shape: a namespace
// prefix, then the account as a hash tag, then the package's own parts.
// Each package names its keys in its own keys.go with these helpers, so
// that the layout below holds everywhere.
//
// Every key that belongs to an account carries the account id as a Redis
// Cluster hash tag, e.g. "bs:{acct-1234}:jobs:j_1", so that every multi-key
// operation on one account stays in one slot and works on Redis Cluster,
// Sentinel and a single server alike. Global keys (the account index, the
// token index) are only ever used in single-key operations.
package keyspace

import "strings"

// DefaultNamespace is the key prefix used in production.
const DefaultNamespace Namespace = "bs"

// Namespace is the prefix of every brazesync key. Production uses
// DefaultNamespace; tests use a unique namespace each so that they can share
// one Redis database and run in parallel.
type Namespace string

// Account returns the key for parts under account acct:
// "<ns>:{<acct>}:<part>:<part>...".
func (ns Namespace) Account(acct string, parts ...string) string {
	var b strings.Builder
	b.WriteString(string(ns))
	b.WriteString(":{")
	b.WriteString(acct)
	b.WriteString("}")
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Global returns a key that belongs to no account: "<ns>:<part>:<part>...".
// Global keys must only be used in single-key commands.
func (ns Namespace) Global(parts ...string) string {
	return string(ns) + ":" + strings.Join(parts, ":")
}

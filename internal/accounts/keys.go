package accounts

import "github.com/brazesync/brazesync/internal/keyspace"

// accountsKey is the hash of every account, by id.
func accountsKey(ns keyspace.Namespace) string { return ns.Global("accounts") }

// tokenKey maps the SHA-256 (hex) of an API token to its account and id.
func tokenKey(ns keyspace.Namespace, sha string) string { return ns.Global("token", sha) }

package csvimport

import (
	"strconv"

	"github.com/brazesync/brazesync/internal/store"
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

// diffGenKey: hash, field = 16-byte digest of a row's identity, value =
// 16-byte digest of the row's values, as applied in generation gen.
func diffGenKey(ns store.Namespace, account, job string, gen int64) string {
	return ns.Account(account, "csvimport", job, "diff", "gen", strconv.FormatInt(gen, 10))
}

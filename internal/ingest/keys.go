package ingest

import "github.com/brazesync/brazesync/internal/keyspace"

// Redis keys of the ingest queue. Per-account keys carry the account hash
// tag; the active set is global and only used in single-key commands.
//
//	<ns>:{<acct>}:ingest                  stream  accepted requests, one entry each:
//	                                              s stream, t arrival ms, ct content type,
//	                                              b body, r rejected indexes ("1,4")
//	<ns>:{<acct>}:ingest:rate             string  GCRA theoretical arrival time (ms)
//	<ns>:{<acct>}:ingest:dead             stream  entries that failed MaxDeliveries times
//	<ns>:{<acct>}:streams:<stream>:log    stream  rejected records of a stream (capped)
//	<ns>:ingest:active                    set     accounts that may have pending entries
type keys struct {
	ns keyspace.Namespace
}

func (k keys) queue(acct string) string { return k.ns.Account(acct, "ingest") }
func (k keys) rate(acct string) string  { return k.ns.Account(acct, "ingest", "rate") }
func (k keys) dead(acct string) string  { return k.ns.Account(acct, "ingest", "dead") }
func (k keys) streamLog(acct, stream string) string {
	return k.ns.Account(acct, "streams", stream, "log")
}
func (k keys) active() string { return k.ns.Global("ingest", "active") }

// consumerGroup is the one consumer group of every ingest stream.
const consumerGroup = "profiles"

// Entry field names.
const (
	fieldStream      = "s"
	fieldArrival     = "t"
	fieldContentType = "ct"
	fieldBody        = "b"
	fieldRejected    = "r"
)

// streamLogLength caps each stream's rejection log (approximately).
const streamLogLength = 1000

// Package changelog is the ordered, per-account log of audience membership
// changes: every time a profile enters or exits an audience, one Entry
// (account, audience, profile id, enter/exit, time) is appended.
//
// # Storage
//
// The log of an account is one Redis Stream, StreamKey(ns, acct) =
// "<ns>:{<acct>}:changelog", under the account's hash tag. The audiences
// package appends to it from the same Lua script that changes the membership
// sets, so the log and the sets never disagree: either both changed or
// neither did. Entries of one account are totally ordered by their stream ID;
// in particular the entries of one profile appear in the order the changes
// happened. One stream entry may carry several audiences that its
// profiles entered (or exited) at once, comma-separated in FieldAudience,
// and several profiles that did the same, comma-separated in FieldProfile
// (slugs and profile ids have no commas; a writer puts at most
// MaxProfilesPerEntry profiles in one entry): Range and Read give one Entry
// per profile and audience, all with that stream entry's ID, and never split
// a stream entry between two reads, so committing the last Entry's ID
// commits them all.
//
// # Consumers
//
// A consumer is a name (e.g. "export:job_123") with a cursor stored in Redis:
// the ID of the last entry it has processed. Consumers are independent; each
// reads at its own pace:
//
//	cur, created, err := log.CreateConsumer(ctx, acct, "export:j1", changelog.StartNow)
//	for {
//		entries, err := log.Read(ctx, acct, "export:j1", 500) // after the cursor
//		if len(entries) == 0 { break }
//		... process entries (idempotently) ...
//		err = log.Commit(ctx, acct, "export:j1", entries[len(entries)-1].ID)
//	}
//
// Read does not move the cursor; Commit does, and only forward. A crash
// between the two re-reads the same entries: delivery is at least once, which
// suits state-based consumers such as the Braze export (docs/architecture.md).
//
// # Where a new consumer starts
//
// StartNow: at the current end of the log; the consumer sees only changes
// made after it was created. StartOldest: at the oldest entry still kept.
//
// To start "at the beginning of current membership" (backfill), create the
// consumer with StartNow, which fixes its log position at that moment, then
// walk the current members of its audiences with Backfill (chunked, with a
// resumable string cursor that the caller stores with its own progress), and
// then read the log from the consumer's cursor. A membership change that
// happens during the backfill is logged after the consumer's position, so it
// is read afterwards even if the backfill saw the old state.
//
// # Trimming
//
// Trim (to be called periodically, e.g. hourly) removes entries that every
// consumer has committed, and also entries older than the retention
// (Options.Retention, default 7 days) whether read or not. With no consumer
// only the retention applies. A consumer that was slower than the retention
// gets ErrGap from Read; it should Reset (cursor to the current end), backfill
// again, and go on. A consumer that no longer exists must be deleted with
// DeleteConsumer, or the log is only trimmed by retention.
package changelog

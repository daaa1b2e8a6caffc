// Package audiences defines audiences over profiles and keeps their
// membership: rule audiences (a JSON filter, see Rule), list audiences
// (members added and removed by identity through the API) and the built-ins
// every account has: lytics_all (every profile), lytics_known (an email,
// external_id or braze_id identity) and lytics_new (first seen within the
// last 7 days). Built-ins are created lazily and idempotently the first time
// an account is used (EnsureDefaults) and cannot be changed or deleted.
//
// # How membership changes
//
// Every enter and exit is appended to the account's change log (package
// changelog) by the same Lua script that changes the member bitmaps (bit n
// of an audience's bitmap is profile n), so the log and the bitmaps never
// disagree, even with concurrent writers.
//
//  1. When profiles change: *Service is the profiles.ChangeHook. For each
//     changed profile it evaluates every rule audience of the account (rules
//     compiled once and cached per account; the script checks the cached
//     definitions' version against Redis, so a change made by any process
//     is used by all from their next write on) and records the difference in
//     one script call per 1,000 profiles. A profile whose decision did not
//     change since the last call costs one HGET. A deleted profile exits
//     every audience; a merged-away profile too, and its survivor takes over
//     its list memberships (its rule memberships follow from its own change).
//  2. When a rule changes (Create of a rule audience, Update with a new
//     rule): the audience's re-evaluation becomes "pending"; the caller
//     enqueues a task that calls ReevaluateChunk(ctx, acct, slug, cursor)
//     until done. Progress (state, scanned, entered, exited, cursor) is kept
//     in Redis and shown by Get.
//  3. With time: ReevaluateRelative(ctx, acct) (or ReevaluateRelativeChunk)
//     re-evaluates the audiences whose rules use within_last / before_last,
//     lytics_new among them, over every profile. The scheduler calls it at
//     least hourly per account.
//
// List audiences: UpdateMembers adds and removes members by identity. An
// identity to add that matches no profile gets a new profile holding just
// that identity (written through the profiles store on stream ListStream),
// so the person stays in the list and their data joins the profile when it
// arrives; identities that are not identity fields of that stream are
// rejected with the reason. Removing an unknown identity counts as
// not_found.
//
// # Reading
//
// Get and List give definitions with sizes; Members pages through member
// profile ids in numeric id order with an exact cursor (it is also the
// changelog.MemberSource for backfills); ProfileAudiences gives the slugs of
// one profile; Size gives one audience's size.
//
// # Wiring
//
//	aud := audiences.New(rdb, ns, nil, audiences.Options{Logger: log})
//	ps := profiles.New(rdb, ns, aud, profiles.Options{...})
//	aud.UseProfiles(ps)
//
// Redis keys are listed in keys.go; scripts, with their KEYS and ARGV, in
// scripts.go.
package audiences

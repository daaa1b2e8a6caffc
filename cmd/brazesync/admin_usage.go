package main

// The usage texts of the admin subcommands.

const createAccountUsage = `Usage: brazesync admin create-account ID [NAME]

Creates the account ID (1-63 characters of a-z, 0-9, '-' and '_',
starting with a letter or digit) named NAME (default: ID).

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

const createTokenUsage = `Usage: brazesync admin create-token [--expires 720h] [--description TEXT] ACCOUNT NAME SCOPE[,SCOPE]

Creates an API token of ACCOUNT with the scopes read, data_manager and/or
admin, and prints it once: keep it, only its hash is stored.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.

Flags:
`

const listAccountsUsage = `Usage: brazesync admin list-accounts

Prints one line per account: ID, name and creation time, tab-separated.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

const migrateProfilesUsage = `Usage: brazesync admin migrate-profiles

Rewrites the profiles that an earlier build stored as hashes into the
one-string form. Safe to run again, and while brazesync runs.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

const migrateAudiencesUsage = `Usage: brazesync admin migrate-audiences

Moves the audience memberships that an earlier build kept in sorted sets
into member bitmaps. Safe to run again; run it with every brazesync
process stopped, before starting this build.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

const migrateIndexUsage = `Usage: brazesync admin migrate-index

Moves the identity index that an earlier build kept in one hash per
account into one hash per identity field. Safe to run again; run it with
every brazesync process stopped, before starting this build, which refuses
to write the profiles of an account until then.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

const resealUsage = `Usage: brazesync admin reseal

Seals every stored secret again with the first key of BRAZESYNC_MASTER_KEY
(the authorizations of every account, the notify secrets of every job,
the managed SFTP host key), so that
the keys after it can be retired: put the new key first, run reseal, then
drop the old key. It also binds secrets that an earlier build sealed to
their authorization's destination.

Environment: REDIS_URL, BRAZESYNC_MASTER_KEY (required), LOG_LEVEL.
`

package ctl

// The usage texts of ctl's commands.

const outputFlag = `  -o, --output table|json
                     a table (default), or the API's answer as JSON for scripts`

const accountFlag = `  -a, --account ID   the account (default: BRAZESYNC_ACCOUNT)`

const environment = `Environment:
  BRAZESYNC_URL      the API's base URL (default http://127.0.0.1:8080)
  BRAZESYNC_TOKEN    an API token: of the account, or the operator token (required)
  BRAZESYNC_ACCOUNT  the account of commands given no --account`

const exitStatuses = `Exit status: 0 done; 1 other failures (unreachable API, 429, 5xx); 2 usage or
configuration; 3 not found; 4 refused (invalid, conflict, too large, a failed
connection test); 5 token missing, wrong, revoked or lacking the scope.`

const flagsAndEnv = `
Flags:
` + outputFlag + `

` + environment + `
`

const accountFlagsAndEnv = `
Flags:
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const ctlUsage = `Usage: brazesync ctl COMMAND [SUBCOMMAND] [ARGS] [FLAGS]

The common operations of brazesync's HTTP API, as tables for people or
JSON for scripts (-o json). Flags may come before or after the arguments.

` + environment + `

` + exitStatuses + `
`

const accountsUsage = `Usage: brazesync ctl accounts list|create

Accounts; both commands take the operator token (BRAZESYNC_ADMIN_TOKEN) in
BRAZESYNC_TOKEN.
`

const accountsListUsage = `Usage: brazesync ctl accounts list [-o json]

Lists every account: id, name and creation time.
` + flagsAndEnv

const accountsCreateUsage = `Usage: brazesync ctl accounts create ID [NAME] [-o json]

Creates the account ID (1-63 characters of a-z, 0-9, '-' and '_', starting
with a letter or digit) named NAME.
` + flagsAndEnv

const tokensUsage = `Usage: brazesync ctl tokens create|list|revoke

The API tokens of an account (the admin scope is needed).
`

const tokensCreateUsage = `Usage: brazesync ctl tokens create NAME SCOPE[,SCOPE] [--description TEXT] [--expires 720h]

Creates a token with the scopes read, data_manager and/or admin and prints
it once: keep it, only its hash is stored.

Flags:
  --description TEXT  what the token is for
  --expires DURATION  it stops working after that long, e.g. 720h (default never)
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const tokensListUsage = `Usage: brazesync ctl tokens list

Lists the account's tokens, revoked ones included; never their secrets.
` + accountFlagsAndEnv

const tokensRevokeUsage = `Usage: brazesync ctl tokens revoke ID

Revokes a token: it stops working at once.
` + accountFlagsAndEnv

const authUsage = `Usage: brazesync ctl auth create|list|show|test|pin

Authorizations hold the credentials of a Braze workspace (braze) or an SFTP
server (sftp, sftp_pgp, sftp_managed); their secrets are sealed and never
shown again.
`

const authCreateUsage = `Usage: brazesync ctl auth create --file FILE
       brazesync ctl auth create --type TYPE [--label L] [--config KEY=VALUE]... [--secret KEY=VALUE]... [--secret-file KEY=PATH]...

Creates an authorization from a JSON or YAML file (- reads stdin) holding
the API's body ({"type", "label", "config", "secrets"}), or from flags. A
--config VALUE that is a number, true or false is sent as such. Prefer
--secret-file to --secret: a command line is seen by other users of the
machine. An sftp_managed authorization prints its generated password once.

  brazesync ctl auth create --type braze --label Braze --config instance=US-01 --secret-file api_key=key.txt
  brazesync ctl auth create --type sftp --config host=sftp.example.com --config username=braze --secret-file private_key=id_ed25519

Flags:
  --file FILE              the body, JSON or YAML (.yaml, .yml)
  --type TYPE              braze, sftp, sftp_pgp or sftp_managed
  --label TEXT, --description TEXT
  --config KEY=VALUE       a config key (instance, rest_endpoint, host, port, username, folder, host_key, ...)
  --secret KEY=VALUE       a secret (api_key, password, private_key, passphrase, pgp_private_key, pgp_passphrase)
  --secret-file KEY=PATH   a secret read from a file
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const authListUsage = `Usage: brazesync ctl auth list

Lists the account's authorizations: type, label, destination and the names
of the secrets that are set.
` + accountFlagsAndEnv

const authShowUsage = `Usage: brazesync ctl auth show ID

Shows an authorization's config and the names of its secrets.
` + accountFlagsAndEnv

const authTestUsage = `Usage: brazesync ctl auth test ID

Tests an SFTP authorization against its server. The host key is checked
before any credential is sent: without a pinned key the test only shows the
key the server presents (check it, then run pin); with one it logs in and
lists the folder. A failed test prints its code and exits with status 4.
` + accountFlagsAndEnv

const authPinUsage = `Usage: brazesync ctl auth pin ID

Pins the host key the SFTP server presents, for an authorization that pins
none; no credential is sent. Run auth test afterwards to log in.
` + accountFlagsAndEnv

const jobsUsage = `Usage: brazesync ctl jobs list|create|show|run|pause|resume|logs|runs|files|preview|user

Export Audience (braze_export_audience) and Import CSV (csv_import) jobs.
`

const jobsListUsage = `Usage: brazesync ctl jobs list [--deleted]

Lists the account's jobs, oldest first, with state, health and newest run.

Flags:
  --deleted          list deleted jobs too
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const jobsCreateUsage = `Usage: brazesync ctl jobs create --file FILE

Creates a job from a JSON or YAML file (- reads stdin) holding the API's
body: {"type", "label", "authorization_id", "config", "schedule",
"notify"}. Without a schedule the job runs at once. With notify, the
answer shows the notifications' signing secret this once. For example,
export.yaml:

  type: braze_export_audience
  label: VIPs to Braze
  authorization_id: au_123
  config:
    audiences: [vip]
    identifier_field: email
    identifier_kind: email
  notify:
    url: https://hooks.example.com/brazesync
    events: [run_failed, health_changed]

Flags:
  --file FILE        the body, JSON or YAML (.yaml, .yml)
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const jobsShowUsage = `Usage: brazesync ctl jobs show ID

Shows a job: state, health and last error, newest run and progress.
` + accountFlagsAndEnv

const jobsRunUsage = `Usage: brazesync ctl jobs run ID

Runs a job now. While a run asked for through the API is queued or running
it is refused (code run_in_progress, exit status 4).
` + accountFlagsAndEnv

const jobsPauseUsage = `Usage: brazesync ctl jobs pause ID

Pauses a job; pausing a paused job changes nothing.
` + accountFlagsAndEnv

const jobsResumeUsage = `Usage: brazesync ctl jobs resume ID

Resumes a job; one without a schedule runs at once.
` + accountFlagsAndEnv

const jobsLogsUsage = `Usage: brazesync ctl jobs logs ID [--limit N]

Prints a job's log, newest first (default 100 entries, at most 1000).

Flags:
  --limit N          how many entries
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const jobsRunsUsage = `Usage: brazesync ctl jobs runs ID [--limit N]

Prints a job's runs with their counters, newest first (default 20, at most
100).

Flags:
  --limit N          how many runs
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const jobsFilesUsage = `Usage: brazesync ctl jobs files ID

Prints an Import CSV job's file ledger: each file version with its state,
counts and error.
` + accountFlagsAndEnv

const jobsPreviewUsage = `Usage: brazesync ctl jobs preview ID
       brazesync ctl jobs preview --file FILE

Prints what an export job's next run would send, sending nothing: users to
add, to remove, unchanged and omitted (by reason), objects, requests, data
points and the seconds the requests take at the rate limit. With --file,
previews the job a jobs create file describes, creating nothing.

Flags:
  --file FILE        a jobs create file (JSON or YAML; - reads stdin)
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const jobsUserUsage = `Usage: brazesync ctl jobs user ID FIELD VALUE

Prints where the profile with VALUE in identity field FIELD stands in an
export job: the job's audiences it is in, what Braze last accepted and
when, whether it waits to be sent, why it is omitted, and Braze's last
message about it. For example: jobs user job_1 email ann@example.com
` + accountFlagsAndEnv

const audiencesUsage = `Usage: brazesync ctl audiences list|create|show|members

Audiences over profiles: rule audiences (a filter) and list audiences (by
identity).
`

const audiencesListUsage = `Usage: brazesync ctl audiences list

Lists the account's audiences with their sizes, built-ins included.
` + accountFlagsAndEnv

const audiencesCreateUsage = `Usage: brazesync ctl audiences create SLUG [--name NAME] [--rule JSON | --rule-file FILE]

Creates a list audience, or with a rule a rule audience, e.g.
  brazesync ctl audiences create gold --rule '{"field": "plan", "op": "eq", "value": "gold"}'

Flags:
  --name TEXT, --description TEXT
  --kind list|rule   (default: rule with a rule, else list)
  --rule JSON        the rule
  --rule-file FILE   the rule, JSON or YAML
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const audiencesShowUsage = `Usage: brazesync ctl audiences show SLUG

Shows an audience with its size and re-evaluation.
` + accountFlagsAndEnv

const audiencesMembersUsage = `Usage: brazesync ctl audiences members SLUG [--cursor C] [--limit N]
       brazesync ctl audiences members SLUG [--add FIELD=VALUE]... [--remove FIELD=VALUE]...

Lists one page of an audience's member profile ids (default 100, at most
1000; the last line names the next page's cursor), or adds and removes
members of a list audience by identity, e.g. --add email=ada@example.com.

Flags:
  --add FIELD=VALUE, --remove FIELD=VALUE
  --cursor C, --limit N
` + accountFlag + `
` + outputFlag + `

` + environment + `
`

const profilesUsage = `Usage: brazesync ctl profiles get FIELD VALUE

Profiles.
`

const profilesGetUsage = `Usage: brazesync ctl profiles get FIELD VALUE

Shows the profile whose identity FIELD (email, external_id, ...) is VALUE:
its identities, audiences and fields.
` + accountFlagsAndEnv

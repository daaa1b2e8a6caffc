package client

import (
	"encoding/json"
	"time"

	"github.com/brazesync/brazesync/wire"
)

// Job types.
const (
	JobExportAudience = "braze_export_audience"
	JobCSVImport      = "csv_import"
)

// Job states.
const (
	JobRunning   = "running"
	JobPaused    = "paused"
	JobCompleted = "completed"
	JobFailed    = "failed"
	JobDeleted   = "deleted"
)

// JobConfig is a job's config: the braze_export_audience keys
// (Audiences...FlushIntervalSeconds) or the csv_import keys
// (Folder...MaxBadRowShare). Zero values are left out, so the job's
// defaults apply.
type JobConfig struct {
	// Audiences (export) are the slugs of the audiences exported.
	Audiences []string `json:"audiences,omitempty"`
	// IdentifierField (export) is the profile field or identity holding the
	// Braze identifier (default braze_id); IdentifierKind how it is sent:
	// external_id (default), braze_id, email, phone or user_alias (with
	// AliasLabel).
	IdentifierField string `json:"identifier_field,omitempty"`
	IdentifierKind  string `json:"identifier_kind,omitempty"`
	AliasLabel      string `json:"alias_label,omitempty"`
	// Attribute (export) is the array custom attribute (default
	// lytics_segments).
	Attribute string `json:"attribute,omitempty"`
	// AttributeMode (export) is "array" (default: the audience slugs in
	// Attribute) or "boolean" (one attribute per audience, named
	// AttributePrefix + slug, true on entry and false on exit).
	AttributeMode string `json:"attribute_mode,omitempty"`
	// AttributePrefix (export, boolean mode) starts each attribute's name
	// (default lytics_). A pointer, so that an empty prefix can be set.
	AttributePrefix *string `json:"attribute_prefix,omitempty"`
	// UpdateExistingOnly (export) sends every object with Braze's
	// _update_existing_only, so that the job creates no Braze user.
	UpdateExistingOnly bool `json:"update_existing_only,omitempty"`
	// ExistingUsers (export) backfills the audiences' current members.
	ExistingUsers bool `json:"existing_users,omitempty"`
	// FlushUsers and FlushIntervalSeconds (export, without a schedule):
	// send once this many users wait or the oldest waited this long.
	FlushUsers           int      `json:"flush_users,omitempty"`
	FlushIntervalSeconds *float64 `json:"flush_interval_seconds,omitempty"`

	// Folder (import) is the folder on the SFTP server.
	Folder string `json:"folder,omitempty"`
	// File, Pattern or DatedFile (import, exactly one) pick the files: a
	// name, a glob or regular expression, or a dated name (that file and
	// every later-dated one).
	File      string `json:"file,omitempty"`
	Pattern   string `json:"pattern,omitempty"`
	DatedFile string `json:"dated_file,omitempty"`
	// ExcludePattern (import): files it matches are never imported (the
	// syntax of Pattern).
	ExcludePattern string `json:"exclude_pattern,omitempty"`
	// ErrorsFolder (import): each file's rejected rows are also written
	// there as <file name>.rejected.csv.
	ErrorsFolder string `json:"errors_folder,omitempty"`
	// OnFailure (import): leave (default) or move a failed file to
	// FailedFolder.
	OnFailure    string `json:"on_failure,omitempty"`
	FailedFolder string `json:"failed_folder,omitempty"`
	// Delimiter (import): , | ; or tab; empty to detect.
	Delimiter string `json:"delimiter,omitempty"`
	// Headers (import) name the columns of files without a header row;
	// Columns imports only these; TimestampColumns hold the row's time.
	Headers          []string `json:"headers,omitempty"`
	Columns          []string `json:"columns,omitempty"`
	TimestampColumns []string `json:"timestamp_columns,omitempty"`
	// Stream (import) is the stream whose mapping applies (default
	// braze_users).
	Stream string `json:"stream,omitempty"`
	// KeepUpdated (import) imports new versions as they appear; Diff
	// applies only the rows that changed.
	KeepUpdated bool `json:"keep_updated,omitempty"`
	Diff        bool `json:"diff,omitempty"`
	// AfterImport (import): leave (default), move (to MoveTo) or delete.
	AfterImport string `json:"after_import,omitempty"`
	MoveTo      string `json:"move_to,omitempty"`
	// MaxBadRowShare (import) is the share of rejected rows above which a
	// file fails.
	MaxBadRowShare *float64 `json:"max_bad_row_share,omitempty"`
}

// JobInput creates a job.
type JobInput struct {
	Type            string    `json:"type"`
	Label           string    `json:"label,omitempty"`
	Description     string    `json:"description,omitempty"`
	AuthorizationID string    `json:"authorization_id"`
	Config          JobConfig `json:"config"`
	// Schedule is a cron expression, a descriptor (@hourly) or an interval
	// (@every 5m), in UTC; empty runs the job at once and on changes.
	Schedule string `json:"schedule,omitempty"`
	// Notify, when set, is where the job's events are POSTed; the answer's
	// Notify.Secret is the signing secret, shown this once.
	Notify *NotifyInput `json:"notify,omitempty"`
}

// Events of notify settings.
const (
	EventRunCompleted  = "run_completed"
	EventRunFailed     = "run_failed"
	EventHealthChanged = "health_changed"
)

// NotifyInput sets a job's notify settings.
type NotifyInput struct {
	// URL is https (plain http only where the operator allows insecure
	// endpoints), without credentials.
	URL string `json:"url"`
	// Events: EventRunCompleted, EventRunFailed, EventHealthChanged.
	Events []string `json:"events"`
	// RotateSecret gives a job that has a secret a new one (PATCH).
	RotateSecret bool `json:"rotate_secret,omitempty"`
}

// Notify is a job's notify settings as answers show them.
type Notify struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret is the signing secret: only in the answer of the create or
	// update that made it.
	Secret string `json:"secret,omitempty"`
}

// JobPatch changes a job: only what is set changes. Config keys given
// replace the stored ones and a nil value removes one.
type JobPatch struct {
	// Type, if set, must be the job's own type.
	Type            string         `json:"type,omitempty"`
	Label           *string        `json:"label,omitempty"`
	Description     *string        `json:"description,omitempty"`
	AuthorizationID *string        `json:"authorization_id,omitempty"`
	Config          map[string]any `json:"config,omitempty"`
	Schedule        *string        `json:"schedule,omitempty"`
	// Notify sets the notify settings (keeping the secret unless
	// RotateSecret); RemoveNotify removes them.
	Notify       *NotifyInput `json:"notify,omitempty"`
	RemoveNotify bool         `json:"-"`
}

// MarshalJSON sends "notify": null when RemoveNotify is set.
func (p JobPatch) MarshalJSON() ([]byte, error) {
	type plain JobPatch
	if !p.RemoveNotify {
		return json.Marshal(plain(p))
	}
	return json.Marshal(struct {
		plain
		Notify *NotifyInput `json:"notify"`
	}{plain: plain(p)})
}

// Job is a job with its state, newest run, progress and health.
type Job struct {
	ID              string    `json:"id"`
	Account         string    `json:"account"`
	Type            string    `json:"type"`
	Label           string    `json:"label"`
	Description     string    `json:"description,omitempty"`
	AuthorizationID string    `json:"authorization_id"`
	Config          JobConfig `json:"config"`
	Schedule        string    `json:"schedule,omitempty"`
	State           string    `json:"state"`
	// Version grows with every change.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastRun is the newest run, nil before the first.
	LastRun *Run `json:"last_run,omitempty"`
	// Progress holds the current run's counters (numbers) and stage or
	// file (strings).
	Progress map[string]any `json:"progress,omitempty"`
	// Health is ok, retrying or failing; LastError the problem behind it.
	Health    string     `json:"health,omitempty"`
	LastError *LastError `json:"last_error"`
	// Notify is where the job's events are POSTed; nil when not set.
	Notify *Notify `json:"notify,omitempty"`
}

// LastError is the problem behind a job's health.
type LastError struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Run is one run of a job.
type Run = wire.Run

// LogEntry is one entry of a job's log.
type LogEntry = wire.LogEntry

// LedgerEntry is one version of a file an Import CSV job met, and what its
// import did.
type LedgerEntry struct {
	Path       string     `json:"path"`
	Size       int64      `json:"size"`
	ModTime    time.Time  `json:"mod_time"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	RowsRead   int64      `json:"rows_read"`
	Applied    int64      `json:"applied"`
	Unchanged  int64      `json:"unchanged"`
	Rejected   int64      `json:"rejected"`
	Error      string     `json:"error,omitempty"`
	// RunID is the run that imported (or failed) the version.
	RunID string `json:"run_id,omitempty"`
	// MovedTo is where on_failure: move put a failed file.
	MovedTo string `json:"moved_to,omitempty"`
}

// FileRetryInput names the file whose ledger entries are forgotten.
type FileRetryInput struct {
	Path string `json:"path"`
}

// FileRetry counts the forgotten ledger entries.
type FileRetry struct {
	Reset   int    `json:"reset"`
	Message string `json:"message"`
}

// ListOptions bound a listing: Limit 0 takes the server's default.
type ListOptions struct {
	Limit int
}

// ListJobsOptions filter ListJobs.
type ListJobsOptions struct {
	// Deleted lists deleted jobs too.
	Deleted bool
}

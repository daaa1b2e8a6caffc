package csvimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Job names the import job a file belongs to.
type Job struct {
	Account string
	ID      string
}

// FileVersion identifies one version of a file: a file whose size or
// modification time changed is a new version and is imported again.
type FileVersion struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// ID is the version's ledger field: path, size and mtime (unix seconds,
// the precision SFTP gives).
func (v FileVersion) ID() string {
	return v.Path + "\x00" + strconv.FormatInt(v.Size, 10) + "\x00" + strconv.FormatInt(v.ModTime.Unix(), 10)
}

// State of a ledger entry.
type State string

// Ledger states. An entry left "importing" (a crash, a transient error) is
// imported again; "imported" and "failed" are final until Reset.
const (
	StateImporting State = "importing"
	StateImported  State = "imported"
	StateFailed    State = "failed"
)

// Entry is the ledger's record of one file version.
type Entry struct {
	FileVersion
	State      State     `json:"state"`
	Attempts   int       `json:"attempts"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	RowsRead   int64     `json:"rows_read"`
	Applied    int64     `json:"applied"`
	Unchanged  int64     `json:"unchanged"`
	Rejected   int64     `json:"rejected"`
	Error      string    `json:"error,omitempty"`
	// RunID is the job run that imported (or last tried) the version.
	RunID string `json:"run_id,omitempty"`
	// MovedTo is where the file was moved after it failed (on_failure
	// move): a file that appears at Path again is a new upload.
	MovedTo string `json:"moved_to,omitempty"`
}

// Finished reports whether the version must not be imported again (until
// Reset): it was imported, or it failed and was left where it is. A
// version that failed and was moved away is not finished: a file at its
// path is a new upload, even with the same size and time.
func (e Entry) Finished() bool {
	return e.State == StateImported || (e.State == StateFailed && e.MovedTo == "")
}

// Ledger records, per job, which file versions were imported and how.
type Ledger struct {
	rdb redis.UniversalClient
	ns  keyspace.Namespace
}

// NewLedger returns the ledger on rdb under ns.
func NewLedger(rdb redis.UniversalClient, ns keyspace.Namespace) *Ledger {
	return &Ledger{rdb: rdb, ns: ns}
}

// Get returns the entry of v, and whether there is one.
func (l *Ledger) Get(ctx context.Context, job Job, v FileVersion) (Entry, bool, error) {
	raw, err := l.rdb.HGet(ctx, ledgerKey(l.ns, job.Account, job.ID), v.ID()).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading ledger entry %q of job %q: %w", v.Path, job.ID, err)
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Entry{}, false, fmt.Errorf("decoding ledger entry %q of job %q: %w", v.Path, job.ID, err)
	}
	return e, true, nil
}

// Mark stores e as the entry of its file version.
func (l *Ledger) Mark(ctx context.Context, job Job, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding ledger entry: %w", err)
	}
	if err := l.rdb.HSet(ctx, ledgerKey(l.ns, job.Account, job.ID), e.FileVersion.ID(), raw).Err(); err != nil {
		return fmt.Errorf("writing ledger entry %q of job %q: %w", e.Path, job.ID, err)
	}
	return nil
}

// movedTag separates a version's id from the failure that moved it, in
// the field of an entry of a failed version that was moved away.
const movedTag = "\x00moved\x00"

// MarkMoved stores e, a version that failed and was moved to e.MovedTo,
// under a field of its own, so that the version's field is free for a
// file uploaded at its path again (even of the same size and time) and
// the ledger lists both.
func (l *Ledger) MarkMoved(ctx context.Context, job Job, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding ledger entry: %w", err)
	}
	key := ledgerKey(l.ns, job.Account, job.ID)
	pipe := l.rdb.TxPipeline()
	pipe.HDel(ctx, key, e.FileVersion.ID())
	pipe.HSet(ctx, key, e.FileVersion.ID()+movedTag+strconv.FormatInt(e.FinishedAt.UnixNano(), 10), raw)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("writing ledger entry %q of job %q: %w", e.Path, job.ID, err)
	}
	return nil
}

// List returns every entry of the job, most recently started first.
func (l *Ledger) List(ctx context.Context, job Job) ([]Entry, error) {
	all, err := l.rdb.HGetAll(ctx, ledgerKey(l.ns, job.Account, job.ID)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing ledger of job %q: %w", job.ID, err)
	}
	out := make([]Entry, 0, len(all))
	for _, raw := range all {
		var e Entry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("decoding ledger of job %q: %w", job.ID, err)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// Reset forgets v (and its failures that were moved away) so that the
// next run imports it again. It reports
// whether there was an entry.
func (l *Ledger) Reset(ctx context.Context, job Job, v FileVersion) (bool, error) {
	key := ledgerKey(l.ns, job.Account, job.ID)
	fields, err := l.rdb.HKeys(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("resetting ledger entry %q of job %q: %w", v.Path, job.ID, err)
	}
	drop := []string{v.ID()}
	for _, f := range fields {
		if strings.HasPrefix(f, v.ID()+movedTag) {
			drop = append(drop, f) // the failures of v that were moved away
		}
	}
	n, err := l.rdb.HDel(ctx, key, drop...).Result()
	if err != nil {
		return false, fmt.Errorf("resetting ledger entry %q of job %q: %w", v.Path, job.ID, err)
	}
	return n > 0, nil
}

// Clear forgets every entry and the diff state of a job (when the job is
// deleted).
func (l *Ledger) Clear(ctx context.Context, job Job) error {
	keys := []string{ledgerKey(l.ns, job.Account, job.ID), diffSeqKey(l.ns, job.Account, job.ID)}
	cur, err := l.rdb.Get(ctx, diffCurrentKey(l.ns, job.Account, job.ID)).Int64()
	if err == nil {
		keys = append(keys, diffGenKey(l.ns, job.Account, job.ID, cur))
	}
	keys = append(keys, diffCurrentKey(l.ns, job.Account, job.ID))
	if err := l.rdb.Unlink(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("clearing ledger of job %q: %w", job.ID, err)
	}
	return nil
}

package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// ErrAlreadyImported: the ledger says this file version was imported (or
// failed for good) before; Reset its entry to import it again.
var ErrAlreadyImported = errors.New("csv import: file version already imported")

// Importer imports files for jobs, keeping each job's Ledger and Diff
// state in Redis.
type Importer struct {
	rdb      redis.UniversalClient
	ns       keyspace.Namespace
	log      *slog.Logger
	leaseTTL time.Duration
	Ledger   *Ledger
}

// NewImporter returns an Importer on rdb under ns; logger may be nil.
func NewImporter(rdb redis.UniversalClient, ns keyspace.Namespace, logger *slog.Logger) *Importer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Importer{rdb: rdb, ns: ns, log: logger.With("component", "csvimport"),
		leaseTTL: LeaseTTLDefault, Ledger: NewLedger(rdb, ns)}
}

// Opener opens a file's content, e.g. sftpclient.Client.Open.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// ImportFile imports version v of a file for job, once, under the job's
// lease (ErrJobBusy while another process holds it): see
// Lease.ImportFile.
func (im *Importer) ImportFile(ctx context.Context, job Job, v FileVersion, open Opener, cfg Config, sink Sink) (*Report, error) {
	l, err := im.Acquire(ctx, job, "")
	if err != nil {
		return nil, err
	}
	defer l.Release()
	return l.ImportFile(l.Context(), v, open, cfg, sink)
}

// ImportFile imports version v of a file for the lease's job, once: it
// checks the ledger (ErrAlreadyImported when done), marks the entry
// importing (with the lease's run), opens the file, stages it (nothing
// applied unless the whole file is good), applies it to sink, and records
// the outcome. A file error (IsPermanent) marks the entry failed; a
// transient error leaves it importing, so the next run tries again, and
// returns the error for the task to retry. The first call removes the
// temporary files that a dead holder of the lease left in cfg.TempDir.
// ctx should be the lease's Context (or derived from it), so that the
// import stops when the lease is lost.
func (l *Lease) ImportFile(ctx context.Context, v FileVersion, open Opener, cfg Config, sink Sink) (*Report, error) {
	im, job := l.im, l.job
	if err := context.Cause(l.ctx); err != nil {
		return nil, fmt.Errorf("importing %s: %w", v.Path, err)
	}
	cfg.tempTag = jobTempTag(job)
	l.CleanTemp(cfg.WithDefaults().TempDir)
	entry, found, err := im.Ledger.Get(ctx, job, v)
	if err != nil {
		return nil, err
	}
	if found && entry.Finished() {
		return nil, fmt.Errorf("%w: %s (%s at %s)", ErrAlreadyImported, v.Path, entry.State, entry.FinishedAt.Format(time.RFC3339))
	}
	entry = Entry{FileVersion: v, State: StateImporting, Attempts: entry.Attempts + 1, StartedAt: time.Now().UTC(), RunID: l.run}
	if err := im.Ledger.Mark(ctx, job, entry); err != nil {
		return nil, err
	}
	log := im.log.With("account", job.Account, "job", job.ID, "file", v.Path)

	rep, err := im.importOnce(ctx, job, v, open, cfg, sink)
	if rep != nil {
		entry.RowsRead, entry.Applied, entry.Unchanged, entry.Rejected = rep.RowsRead, rep.Applied, rep.Unchanged, rep.Rejected
	}
	if cause := context.Cause(l.ctx); err != nil && cause != nil && errors.Is(cause, ErrLeaseLost) {
		err = fmt.Errorf("%w (%v)", ErrLeaseLost, err)
	}
	switch {
	case err == nil:
		entry.State = StateImported
		entry.FinishedAt = time.Now().UTC()
		log.Info("file imported", "rows", rep.RowsRead, "applied", rep.Applied,
			"unchanged", rep.Unchanged, "rejected", rep.Rejected, "duration", rep.Duration.String())
	case IsPermanent(err):
		entry.State = StateFailed
		entry.FinishedAt = time.Now().UTC()
		entry.Error = err.Error()
		log.Warn("file rejected", "error", err.Error())
	case errors.Is(err, ErrLeaseLost):
		// Another process may hold the lease and import the file now:
		// its entry is not ours to write any more.
		log.Warn("file import stopped: the job's lease was lost", "error", err.Error())
		return rep, err
	default:
		entry.Error = err.Error()
		log.Warn("file import interrupted; it will be retried", "error", err.Error())
	}
	if merr := im.Ledger.Mark(context.WithoutCancel(ctx), job, entry); merr != nil && err == nil {
		err = merr
	}
	return rep, err
}

func (im *Importer) importOnce(ctx context.Context, job Job, v FileVersion, open Opener, cfg Config, sink Sink) (*Report, error) {
	if ck, ok := sink.(Checker); ok && cfg.RowCheck == nil {
		check, err := ck.CheckRows(ctx)
		if err != nil {
			return nil, fmt.Errorf("checking the rows of %s: %w", v.Path, err)
		}
		cfg.RowCheck = check
	}
	rc, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", v.Path, err)
	}
	if pr, ok := sink.(Prereader); ok && cfg.Prereader == nil {
		cfg.Prereader = pr
	}
	st, err := Stage(ctx, rc, v.Path, v.Size, cfg)
	_ = rc.Close()
	if err != nil {
		if st != nil {
			return st.Report, err
		}
		return nil, err
	}
	defer st.Close()
	return im.Apply(ctx, job, st, sink)
}

package importjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Taking over an import whose worker died. A run that starts importing
// files holds the job's lease (csvimport.Lease: 15 s, renewed every 5 s)
// and asks its Watcher to look at it again a third of the lease later.
// The look (Runner.Check) runs on any worker: while the lease's holder is
// alive it looks again later; once the lease has expired with its holder
// record still there, the holder died importing, and the run is started
// again (the worker enqueues it under the same run id). Whoever takes the
// lease next, that run or another of the job, takes the import over: the
// file being imported is staged and applied again (profile writes are
// idempotent), the dead holder's staging files are removed, and the files
// it had finished are counted once.

// Watch names a run whose import holds the job's lease with Token.
type Watch struct {
	Account string `json:"account"`
	JobID   string `json:"job_id"`
	RunID   string `json:"run_id"`
	Token   string `json:"token"`
}

// Watcher arranges for Runner.Check to look at w after a delay, on any
// worker (workers.ImportWatcher enqueues a task).
type Watcher interface {
	Watch(ctx context.Context, w Watch, after time.Duration) error
}

// Verdict is what to do about a watched import.
type Verdict int

// Verdicts of Check.
const (
	// VerdictWait: the holder is alive; look again after WatchInterval.
	VerdictWait Verdict = iota
	// VerdictDone: the import ended in order, or another holder (with a
	// watch of its own) took it over, or the run ended.
	VerdictDone
	// VerdictResume: the holder died importing; run the watched run again.
	VerdictResume
)

// WatchInterval is how often a watch looks at its import.
func (r *Runner) WatchInterval() time.Duration { return r.importer.LeaseTTL() / 3 }

// Check looks at a watched import.
func (r *Runner) Check(ctx context.Context, w Watch) (Verdict, error) {
	live, last, err := r.importer.LeaseState(ctx, csvimport.Job{Account: w.Account, ID: w.JobID})
	if err != nil {
		return VerdictWait, err
	}
	switch {
	case live == w.Token:
		return VerdictWait, nil
	case live != "" || last == nil || last.Token != w.Token:
		return VerdictDone, nil
	}
	run, err := r.jobs.GetRun(ctx, w.Account, w.JobID, w.RunID)
	if errors.Is(err, jobs.ErrNotFound) {
		return VerdictDone, nil
	}
	if err != nil {
		return VerdictWait, err
	}
	if run.EndedAt != nil {
		return VerdictDone, nil
	}
	return VerdictResume, nil
}

// watchOnce asks the Watcher, once per lease, to look at the run.
type watchOnce struct {
	r     *Runner
	w     Watch
	asked bool
}

func (o *watchOnce) ask(ctx context.Context) {
	if o.asked || o.r.opts.Watcher == nil {
		return
	}
	o.asked = true
	if err := o.r.opts.Watcher.Watch(ctx, o.w, o.r.WatchInterval()); err != nil {
		// Without a watch, Asynq's own recovery of the run's task takes
		// over a dead worker's import, minutes later.
		o.r.opts.Logger.WarnContext(ctx, "watching an import for its worker's death", "account", o.w.Account, "job", o.w.JobID, "run", o.w.RunID, "err", err)
	}
}

// takeOver records, when the lease's previous holder died importing, that
// run takes its import over, and counts the files it had finished but not
// counted (it died in between) into the run that imported them.
func (r *Runner) takeOver(ctx context.Context, j *jobs.Job, run *jobs.Run, lease *csvimport.Lease) error {
	prev := lease.Previous()
	if prev == nil {
		return nil
	}
	msg := fmt.Sprintf("the worker importing this job stopped (run %s, %s pid %d, since %s); this run takes the import over",
		prev.Run, prev.Host, prev.PID, prev.Since.Format(time.RFC3339))
	if err := r.jobs.Log(ctx, j.Account, j.ID, jobs.Entry{Level: "warn", Code: "import_taken_over", RunID: run.ID, Message: msg}); err != nil {
		return err
	}
	r.opts.Logger.WarnContext(ctx, "taking over an import", "account", j.Account, "job", j.ID, "run", run.ID, "previous_run", prev.Run, "previous_host", prev.Host, "previous_pid", prev.PID)
	if prev.Run == "" {
		return nil
	}
	entries, err := r.importer.Ledger.List(ctx, lease.Job())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.RunID != prev.Run || (e.State != csvimport.StateImported && e.State != csvimport.StateFailed) {
			continue
		}
		rep := &csvimport.Report{RowsRead: e.RowsRead, Applied: e.Applied, Unchanged: e.Unchanged, Rejected: e.Rejected}
		outcome := "files_imported"
		if e.State == csvimport.StateFailed {
			outcome = "files_failed"
		}
		if _, err := r.countFile(ctx, j, prev.Run, e.FileVersion, rep, outcome); err != nil {
			return err
		}
	}
	return nil
}

// runResult is the outcome of a run taken over from a worker that died:
// the files the ledger says the run imported and failed, whichever worker
// did it. cur is what this worker did.
func (r *Runner) runResult(ctx context.Context, job csvimport.Job, runID string, cur Result) (Result, error) {
	res := Result{Failure: cur.Failure}
	entries, err := r.importer.Ledger.List(ctx, job)
	if err != nil {
		return cur, err
	}
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		e := entries[i]
		if e.RunID != runID {
			continue
		}
		switch e.State {
		case csvimport.StateImported:
			res.Imported++
		case csvimport.StateFailed:
			res.Failed++
			if res.Failure == "" {
				res.Failure = fmt.Sprintf("%s: %s; no row of it was applied", e.Path, e.Error)
			}
		}
	}
	// The files the dead worker finished were skipped by this one.
	res.Skipped = max(cur.Skipped-(res.Imported+res.Failed-cur.Imported-cur.Failed), 0)
	return res, nil
}

package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Imports is the Runner of csv_import jobs.
type Imports struct {
	Runner *importjob.Runner
	Jobs   *jobs.Store
}

// OwnsHealth marks Imports as a HealthOwner: a run that imports nothing
// new leaves a failed file reported.
func (x *Imports) OwnsHealth() {}

// RunJob imports the job's new files; errors are classified once: a busy
// server or job is a wait, a permanent problem (host key, folder, key) fails
// the job, anything else is retried with backoff. A refused file makes the
// job failing (import_file_failed) until a file imports; a run that
// connects and finds nothing new ends any other problem.
func (x *Imports) RunJob(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
	res, err := x.Runner.Run(ctx, j, r)
	if err == nil && res.Finished {
		return jobs.OutcomeRunning, nil // another worker took the run over and finished it
	}
	var busy *importjob.BusyError
	var perm *importjob.PermanentError
	switch {
	case errors.As(err, &busy):
		return "", Wait(busy.Delay, busy.Reason)
	case errors.As(err, &perm):
		return "", Permanent(err)
	case err != nil:
		return "", err
	}
	switch {
	case res.Failed > 0:
		problem := jobs.Problem{Code: importjob.CodeFileFailed, Message: res.Failure, Permanent: true, RunID: r.ID,
			Counters: map[string]int64{"files_failed": int64(res.Failed), "files_imported": int64(res.Imported)}}
		if err := x.Jobs.ReportProblem(ctx, j.Account, j.ID, problem); err != nil {
			return "", err
		}
		return jobs.OutcomePartial, nil
	case res.Imported > 0:
		_, err = x.Jobs.ReportOK(ctx, j.Account, j.ID)
	default:
		_, err = x.Jobs.ReportOK(ctx, j.Account, j.ID, importjob.CodeFileFailed)
	}
	if err != nil {
		return "", err
	}
	return jobs.OutcomeSuccess, nil
}

// ImportWatcher is the importjob.Watcher of a worker: it enqueues a
// tasks.TypeImportWatch task.
type ImportWatcher struct{ Client Enqueuer }

// Watch enqueues a look at the import after a delay.
func (w ImportWatcher) Watch(ctx context.Context, iw importjob.Watch, after time.Duration) error {
	task, err := tasks.NewImportWatch(tasks.ImportWatch(iw), after)
	if err != nil {
		return err
	}
	if _, err := w.Client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing the watch of run %s: %w", iw.RunID, err)
	}
	return nil
}

// ImportWatches handles tasks.TypeImportWatch: while the import's worker
// holds the job's lease it looks again later (a wait); when the worker
// died holding it, it runs the run again, which takes the import over.
type ImportWatches struct {
	Runner *importjob.Runner
	Client Enqueuer
	Logger *slog.Logger
}

// ProcessTask implements asynq.Handler.
func (h *ImportWatches) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p tasks.ImportWatch
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	v, err := h.Runner.Check(ctx, importjob.Watch(p))
	if err != nil {
		return err
	}
	switch v {
	case importjob.VerdictWait:
		return Wait(h.Runner.WatchInterval(), "the import's worker holds the job's lease")
	case importjob.VerdictResume:
		task, err := tasks.NewRecoveredRun(p, tasks.QueueImport)
		if err != nil {
			return err
		}
		if _, err := h.Client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueueing the recovery of run %s: %w", p.RunID, err)
		}
		h.Logger.WarnContext(ctx, "an import's worker died; its run starts again to take the import over",
			"account", p.Account, "job", p.JobID, "run", p.RunID)
	}
	return nil
}

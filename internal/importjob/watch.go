package importjob

import (
	"context"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TaskWatcher is the Watcher of a worker: it enqueues a
// tasks.TypeImportWatch task, which any worker handles (Runner.JobType
// registers its handler).
type TaskWatcher struct{ Client tasks.Enqueuer }

// Watch enqueues a look at the import after a delay.
func (w TaskWatcher) Watch(ctx context.Context, iw Watch, after time.Duration) error {
	return tasks.EnqueueImportWatch(ctx, w.Client, tasks.ImportWatch(iw), after)
}

// processWatch handles tasks.TypeImportWatch: while the import's worker
// holds the job's lease it looks again later (a wait); when the worker
// died holding it, it runs the run again, which takes the import over.
func (r *Runner) processWatch(ctx context.Context, t *asynq.Task) error {
	var p tasks.ImportWatch
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	v, err := r.Check(ctx, Watch(p))
	if err != nil {
		return err
	}
	switch v {
	case VerdictWait:
		return fault.Wait(r.WatchInterval(), "the import's worker holds the job's lease")
	case VerdictResume:
		if r.opts.Enqueuer == nil {
			return fault.Permanent(CodeConfig, fmt.Errorf("run %s of job %s: no enqueuer to start it again", p.RunID, p.JobID))
		}
		if err := tasks.EnqueueRecoveredRun(ctx, r.opts.Enqueuer, p, tasks.QueueImport); err != nil {
			return err
		}
		r.opts.Logger.WarnContext(ctx, "an import's worker died; its run starts again to take the import over",
			"account", p.Account, "job", p.JobID, "run", p.RunID)
	}
	return nil
}

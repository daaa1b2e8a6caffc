package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Enqueuer puts tasks into Asynq (an *asynq.Client). The API, the
// scheduler, the workers and the job types all enqueue through it, with
// the helpers below: one per task kind, each knowing its uniqueness rule.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// EnqueueRun enqueues one run of a job in queue (the queue of its type). A
// scheduled occurrence (p.DueAt set) that is already enqueued, by this or
// another scheduler, is not an error: it is enqueued once.
func EnqueueRun(ctx context.Context, enq Enqueuer, p JobRun, queue string) error {
	t, err := NewJobRun(p, queue)
	if err != nil {
		return err
	}
	return enqueueOnce(ctx, enq, t, "a run of job %s/%s", p.Account, p.JobID)
}

// EnqueueRequestedRun enqueues the run of a job asked for through the API
// (NewRequestedRun). It returns false, and no error, when such a run of the
// job is already queued or running.
func EnqueueRequestedRun(ctx context.Context, enq Enqueuer, p JobRun, queue string) (bool, error) {
	t, err := NewRequestedRun(p, queue)
	if err != nil {
		return false, err
	}
	_, err = enq.EnqueueContext(ctx, t)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueueing a run of job %s/%s: %w", p.Account, p.JobID, err)
	}
	return true, nil
}

// RunInspector reads and deletes the tasks of a queue (an
// *asynq.Inspector).
type RunInspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// RequestedRunQueued reports whether the run of a job asked for through
// the API (RequestedRunTaskID) is queued in queue, scheduled for a retry
// or running. A copy that ended for good (archived after its retries, or
// completed and retained) is deleted, so that its id is free for the next
// run, and reported as not queued.
func RequestedRunQueued(insp RunInspector, account, jobID, queue string) (bool, error) {
	id := RequestedRunTaskID(account, jobID)
	info, err := insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking up the run of job %s/%s: %w", account, jobID, err)
	}
	if info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted {
		return true, nil
	}
	if err := insp.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, fmt.Errorf("clearing the ended run of job %s/%s: %w", account, jobID, err)
	}
	return false, nil
}

// EnqueueExportStep enqueues one export step unless a copy (same type, job
// and slot) is queued or running (ExportStepUnique): asking again is not an
// error.
func EnqueueExportStep(ctx context.Context, enq Enqueuer, taskType string, p ExportStep) error {
	t, err := NewExportStep(taskType, p)
	if err != nil {
		return err
	}
	return enqueueOnce(ctx, enq, t, "%s of job %s/%s", taskType, p.Account, p.JobID)
}

// EnqueueAudienceReevaluate enqueues one chunk of a rule audience's
// re-evaluation (the first when p.Cursor is empty).
func EnqueueAudienceReevaluate(ctx context.Context, enq Enqueuer, p AudienceReevaluate) error {
	t, err := NewAudienceReevaluate(p)
	if err != nil {
		return err
	}
	if _, err := enq.EnqueueContext(ctx, t); err != nil {
		return fmt.Errorf("enqueueing the re-evaluation of audience %s/%s: %w", p.Account, p.Slug, err)
	}
	return nil
}

// EnqueueImportWatch enqueues a look at an import after a delay; a look at
// the same holding of the lease already enqueued is not an error.
func EnqueueImportWatch(ctx context.Context, enq Enqueuer, p ImportWatch, after time.Duration) error {
	t, err := NewImportWatch(p, after)
	if err != nil {
		return err
	}
	return enqueueOnce(ctx, enq, t, "the watch of run %s", p.RunID)
}

// EnqueueRecoveredRun enqueues the run that takes over an import whose
// worker died; asking again for the same dead holding is not an error.
func EnqueueRecoveredRun(ctx context.Context, enq Enqueuer, p ImportWatch, queue string) error {
	t, err := NewRecoveredRun(p, queue)
	if err != nil {
		return err
	}
	return enqueueOnce(ctx, enq, t, "the recovery of run %s", p.RunID)
}

// enqueueOnce enqueues t, a task with a task id or a uniqueness window: a
// copy of it already queued or running is not an error, as t is then
// enqueued once. what (a format with args) names t in the error.
func enqueueOnce(ctx context.Context, enq Enqueuer, t *asynq.Task, what string, args ...any) error {
	_, err := enq.EnqueueContext(ctx, t)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return fmt.Errorf("enqueueing %s: %w", fmt.Sprintf(what, args...), err)
}

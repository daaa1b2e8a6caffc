package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Runner runs one run of a job of its type. It returns the run's outcome
// (jobs.OutcomeSuccess or jobs.OutcomePartial) or an error: a *WaitError to
// come back later, a Permanent error to stop the job (state failed), any
// other error to retry with backoff.
type Runner interface {
	RunJob(ctx context.Context, job *jobs.Job, run *jobs.Run) (outcome string, err error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, job *jobs.Job, run *jobs.Run) (string, error)

// RunJob calls f.
func (f RunnerFunc) RunJob(ctx context.Context, job *jobs.Job, run *jobs.Run) (string, error) {
	return f(ctx, job, run)
}

// JobRuns handles tasks.TypeJobRun: it loads the job, records the run, calls
// the job type's Runner and records the outcome, the state and a log entry.
type JobRuns struct {
	Jobs    *jobs.Store
	Runners map[string]Runner
	Logger  *slog.Logger
}

// ProcessTask implements asynq.Handler.
func (h *JobRuns) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p tasks.JobRun
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	log := h.Logger.With("account", p.Account, "job", p.JobID, "trigger", p.Trigger)
	job, err := h.Jobs.Get(ctx, p.Account, p.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return Permanent(fmt.Errorf("job %s/%s no longer exists", p.Account, p.JobID))
	}
	if err != nil {
		return err
	}
	if job.State == jobs.StatePaused || job.State == jobs.StateDeleted {
		log.InfoContext(ctx, "run skipped", "state", job.State)
		return nil
	}
	runner, ok := h.Runners[job.Type]
	if !ok {
		return Permanent(fmt.Errorf("no runner for job type %q", job.Type))
	}
	runID := "run_" + shortHash(taskID(ctx, t))
	run, err := h.Jobs.StartRun(ctx, p.Account, p.JobID, runID, p.Trigger)
	if err != nil {
		return err
	}
	outcome, err := runner.RunJob(ctx, job, run)
	var wait *WaitError
	switch {
	case err == nil:
		if outcome == jobs.OutcomeRunning {
			return nil // the job type finishes the run itself
		}
		if outcome == "" {
			outcome = jobs.OutcomeSuccess
		}
		if ferr := h.Jobs.FinishRun(ctx, p.Account, p.JobID, run.ID, outcome, ""); ferr != nil {
			return ferr
		}
		if job.Schedule == "" && job.Type != tasks.JobTypeExportAudience {
			_, _ = h.Jobs.SetState(ctx, p.Account, p.JobID, jobs.StateCompleted)
		}
		return nil
	case errors.As(err, &wait):
		return err
	case IsPermanent(err) || isLastAttempt(ctx):
		msg := trimSkip(err)
		code := "run_failed"
		if errors.Is(err, egress.ErrForbidden) {
			code = egress.Code // the destination is an internal address
		}
		// The reason first, so that whoever sees the run or the job failed
		// finds why.
		_ = h.Jobs.Log(ctx, p.Account, p.JobID, jobs.Entry{Level: "error", Code: code, Message: msg, RunID: run.ID})
		_ = h.Jobs.FinishRun(ctx, p.Account, p.JobID, run.ID, jobs.OutcomeFailed, msg)
		_, _ = h.Jobs.SetState(ctx, p.Account, p.JobID, jobs.StateFailed)
		log.ErrorContext(ctx, "job run failed", "err", msg)
		return Permanent(errors.New(msg))
	default:
		_ = h.Jobs.Log(ctx, p.Account, p.JobID, jobs.Entry{Level: "warn", Code: "run_retry", Message: err.Error(), RunID: run.ID})
		return err
	}
}

func isLastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

func taskID(ctx context.Context, t *asynq.Task) string {
	if id, ok := asynq.GetTaskID(ctx); ok {
		return id
	}
	return string(t.Payload())
}

func trimSkip(err error) string {
	s := err.Error()
	suffix := ": " + asynq.SkipRetry.Error()
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}

package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// JobRuns handles tasks.TypeJobRun: it loads the job, records the run, calls
// the run entry point of the job's type and records the outcome, the state
// and a log entry.
type JobRuns struct {
	Jobs   *jobs.Store
	Types  *jobtype.Registry
	Logger *slog.Logger
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
		return fault.Permanent("job_not_found", fmt.Errorf("job %s/%s no longer exists", p.Account, p.JobID))
	}
	if err != nil {
		return err
	}
	if job.State == jobs.StatePaused || job.State == jobs.StateDeleted {
		log.InfoContext(ctx, "run skipped", "state", job.State)
		return nil
	}
	typ, ok := h.Types.Lookup(job.Type)
	if !ok {
		return fault.Permanent("unknown_job_type", fmt.Errorf("no runner for job type %q", job.Type))
	}
	if typ.Admit != nil {
		ok, err := typ.Admit(ctx, job, p.Trigger)
		if err != nil {
			return err // a wait, or retried: no run is recorded meanwhile
		}
		if !ok {
			log.InfoContext(ctx, "run not needed: another run did its work")
			return nil
		}
	}
	runID := p.RunID
	if runID == "" {
		runID = "run_" + shortHash(taskID(ctx, t))
	}
	run, err := h.Jobs.StartRun(ctx, p.Account, p.JobID, runID, p.Trigger)
	if err != nil {
		return err
	}
	outcome, err := typ.Run.RunJob(ctx, job, run)
	switch {
	case err == nil:
		return h.succeeded(ctx, job, run, typ, outcome)
	case !IsFailure(err):
		return err
	case isPermanent(err) || isLastAttempt(ctx):
		return h.failed(ctx, log, job, run, err)
	default:
		// Retried by Asynq: the job's health says so, its log once.
		problem := jobs.Problem{Code: problemCode(err, "run_error"), Message: err.Error(), RunID: run.ID, Counters: map[string]int64{"failed": 1}}
		if rerr := h.Jobs.ReportProblem(ctx, p.Account, p.JobID, problem); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
}

// succeeded records a run that returned its outcome.
func (h *JobRuns) succeeded(ctx context.Context, job *jobs.Job, run *jobs.Run, typ jobtype.Type, outcome string) error {
	if outcome == jobs.OutcomeRunning {
		return nil // the job type finishes the run itself
	}
	if outcome == "" {
		outcome = jobs.OutcomeSuccess
	}
	if err := h.Jobs.FinishRun(ctx, job.Account, job.ID, run.ID, outcome, ""); err != nil {
		return err
	}
	if !typ.OwnsHealth && outcome == jobs.OutcomeSuccess {
		if _, err := h.Jobs.ReportOK(ctx, job.Account, job.ID); err != nil {
			return err
		}
	}
	if job.Schedule == "" && !typ.KeepsRunning {
		if _, err := h.Jobs.SetState(ctx, job.Account, job.ID, jobs.StateCompleted); err != nil {
			return fmt.Errorf("completing job %s: %w", job.ID, err)
		}
	}
	return nil
}

// failed records a run that failed for good: the reason first (health and
// log), so that whoever sees the run or the job failed finds why, then the
// run and the job's state. When that cannot be recorded the task is
// retried, unless it has no retry left.
func (h *JobRuns) failed(ctx context.Context, log *slog.Logger, job *jobs.Job, run *jobs.Run, err error) error {
	msg := trimSkip(err)
	permanent := isPermanent(err)
	problem := jobs.Problem{Code: problemCode(err, "run_failed"), Message: msg, Permanent: permanent, Exhausted: !permanent, RunID: run.ID, Counters: map[string]int64{"failed": 1}}
	rerr := h.Jobs.ReportProblem(ctx, job.Account, job.ID, problem)
	if rerr == nil {
		rerr = h.Jobs.FinishRun(ctx, job.Account, job.ID, run.ID, jobs.OutcomeFailed, msg)
	}
	if rerr == nil {
		_, rerr = h.Jobs.SetState(ctx, job.Account, job.ID, jobs.StateFailed)
	}
	if rerr != nil {
		if !isLastAttempt(ctx) {
			return fmt.Errorf("recording the failure of run %s (%s): %w", run.ID, msg, rerr)
		}
		log.ErrorContext(ctx, "recording a failed run failed", "run", run.ID, "err", rerr)
	}
	log.ErrorContext(ctx, "job run failed", "err", msg)
	return fault.Permanent(problem.Code, errors.New(msg))
}

// problemCode is the stable code of a run error (an error with a
// ProblemCode method), else def.
func problemCode(err error, def string) string {
	var c interface{ ProblemCode() string }
	if errors.As(err, &c) {
		if code := c.ProblemCode(); code != "" {
			return code
		}
	}
	return def
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

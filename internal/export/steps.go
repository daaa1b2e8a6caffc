package export

import (
	"context"
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// steps runs Export Audience jobs on a worker: their runs and their tasks.
type steps struct {
	e *Engine
	o TypeOptions
}

// run is the run entry point: a run (at creation, on schedule, or asked)
// sets the job up if needed, opens a run that the sends count into, and
// asks for every waiting user to be sent now. The run stays open until the
// job is idle (the pump closes it).
func (s *steps) run(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
	if err := s.e.Setup(ctx, j); err != nil {
		return "", err
	}
	if err := s.e.AttachRun(ctx, j.Account, j.ID, r.ID); err != nil {
		return "", err
	}
	if _, err := s.e.Feed(ctx, j.Account, j.ID, feedMax); err != nil {
		return "", err
	}
	if err := s.e.RequestFlush(ctx, j.Account, j.ID); err != nil {
		return "", err
	}
	s.kick(ctx, j.Account, j.ID)
	return jobs.OutcomeRunning, nil
}

func (s *steps) feed(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	_, err := s.e.Feed(ctx, p.Account, p.JobID, feedMax)
	if err == nil {
		s.kick(ctx, p.Account, p.JobID)
	}
	return s.classify(ctx, p, err)
}

func (s *steps) backfill(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	_, err := s.e.Backfill(ctx, p.Account, p.JobID, backfillBudget)
	if err == nil {
		s.kick(ctx, p.Account, p.JobID)
	}
	return s.classify(ctx, p, err)
}

func (s *steps) send(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	more, err := s.e.Send(ctx, p.Account, p.JobID, p.Slot, s.o.SendBudget)
	if err == nil && more && s.o.Enqueuer != nil {
		// The successor has another payload than this task (whose unique
		// lock holds until it returns), and takes the slot this task just
		// released.
		next := Work{Kind: WorkSend, Account: p.Account, JobID: p.JobID, Slot: s.e.SuccessorSlot(p.Slot)}
		if eerr := Enqueue(ctx, s.o.Enqueuer, next); eerr != nil {
			s.o.Logger.WarnContext(ctx, "enqueueing the next sender failed; the scheduler will", "account", p.Account, "job", p.JobID, "err", eerr)
		}
	}
	return s.classify(ctx, p, err)
}

// kick enqueues the work a job needs now, as the scheduler's pump would at
// its next tick: a run, a feed or a backfill chunk that made users wait gets
// its senders at once. Failures only log: the pump catches up.
func (s *steps) kick(ctx context.Context, acct, jobID string) {
	if s.o.Enqueuer == nil {
		return
	}
	work, err := s.e.DueJob(ctx, acct, jobID)
	errs := []error{err}
	for _, w := range work {
		errs = append(errs, Enqueue(ctx, s.o.Enqueuer, w))
	}
	if err := errors.Join(errs...); err != nil {
		s.o.Logger.WarnContext(ctx, "enqueueing an export job's next tasks failed; the scheduler will", "account", acct, "job", jobID, "err", err)
	}
}

// classify handles the engine's errors: a permanent Braze answer fails the
// job and its run (no retry storm), a job that no longer exists is done;
// waits and validation errors go to the worker as they are.
func (s *steps) classify(ctx context.Context, p tasks.ExportStep, err error) error {
	var pe *fault.PermanentError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		// The engine recorded the reason in the job's health and log; the
		// run and the job fail with it. If that cannot be recorded, the
		// task is retried and meets the same answer again.
		msg := pe.Err.Error()
		if _, serr := s.e.jobs.SetState(ctx, p.Account, p.JobID, jobs.StateFailed); serr != nil {
			return fmt.Errorf("failing job %s after %s: %w", p.JobID, msg, serr)
		}
		if ferr := s.e.FailRun(ctx, p.Account, p.JobID, msg); ferr != nil {
			return fmt.Errorf("failing the run of job %s after %s: %w", p.JobID, msg, ferr)
		}
		s.o.Logger.ErrorContext(ctx, "export job failed", "account", p.Account, "job", p.JobID, "err", msg)
		return err
	case errors.Is(err, jobs.ErrNotFound):
		return nil
	}
	return err
}

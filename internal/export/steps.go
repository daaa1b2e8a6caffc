package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/redislock"
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
	more, err := s.walk(ctx, p.Account, p.JobID)
	if err == nil && more && s.o.Enqueuer != nil {
		// The walk goes on in a successor under the other slot number, so
		// that it is not a copy of this task (whose unique lock holds until
		// it returns).
		next := Work{Kind: WorkBackfill, Account: p.Account, JobID: p.JobID, Slot: 1 - p.Slot%2}
		if eerr := Enqueue(ctx, s.o.Enqueuer, next); eerr != nil {
			s.o.Logger.WarnContext(ctx, "enqueueing the rest of a backfill failed; the scheduler will", "account", p.Account, "job", p.JobID, "err", eerr)
		}
	}
	return s.classify(ctx, p, err)
}

// walkLease bounds how long a backfill task holds its job's walk: a task
// that died frees it after this.
const walkLease = backfillBudget + 10*time.Second

// walk runs a job's backfill for backfillBudget, one task at a time: it
// marks members as waiting up to HighWater, has senders started for them,
// and walks on each time they have taken half, so that a large backfill
// flows at the senders' pace rather than once per scheduler tick. It
// returns true when the budget ran out while users flowed: the walk goes
// on at once in another task.
func (s *steps) walk(ctx context.Context, acct, jobID string) (more bool, err error) {
	e := s.e
	key, token := e.k.walker(acct, jobID), redislock.NewToken()
	held, err := redislock.Acquire(ctx, e.rdb, key, token, walkLease)
	if err != nil {
		return false, fmt.Errorf("holding the backfill walk of job %s: %w", jobID, err)
	}
	if !held {
		return false, nil // another task walks this job's backfill
	}
	defer func() {
		if _, rerr := redislock.Release(context.WithoutCancel(ctx), e.rdb, key, token); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing the backfill walk of job %s: %w", jobID, rerr))
		}
	}()
	deadline := time.Now().Add(backfillBudget)
	flowed := false // senders took users during this walk
	for {
		done, err := e.Backfill(ctx, acct, jobID, time.Until(deadline))
		if err != nil {
			return false, err
		}
		s.kick(ctx, acct, jobID)
		if done {
			return false, nil
		}
		if !time.Now().Before(deadline) {
			return true, nil
		}
		drained, draining, err := s.awaitSenders(ctx, acct, jobID, deadline)
		flowed = flowed || draining
		if err != nil || !drained {
			// The budget ran out while senders took users (the walk goes
			// on), or they took none in all of it (a paused job, Braze
			// refusing): the scheduler's pump asks for more once fewer
			// than HighWater users wait.
			return flowed && err == nil, err
		}
	}
}

// rekick is how long a walk waits for senders to take users before it
// asks for them again: a sender that ended as the walk marked users could
// not be started again while it ran.
const rekick = 500 * time.Millisecond

// awaitSenders waits until senders have taken half of what waits (drained),
// or deadline; draining says they took some. Senders that take none for
// rekick are asked for again.
func (s *steps) awaitSenders(ctx context.Context, acct, jobID string, deadline time.Time) (drained, draining bool, err error) {
	for {
		until := time.Now().Add(rekick)
		if until.After(deadline) {
			until = deadline
		}
		d, moved, err := s.e.AwaitDrain(ctx, acct, jobID, until)
		draining = draining || moved
		if err != nil || d || !time.Now().Before(deadline) {
			return d, draining, err
		}
		if !moved {
			s.kick(ctx, acct, jobID)
		}
	}
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

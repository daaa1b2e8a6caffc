package export

import (
	"context"
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/redis/go-redis/v9"
)

// openRun returns the job's current run, opening one (trigger "changes")
// when it has none: work done outside a run is counted in one.
func (e *Engine) openRun(ctx context.Context, acct, jobID string) (string, error) {
	runID, err := e.currentRun(ctx, acct, jobID)
	if err != nil || runID != "" {
		return runID, err
	}
	if err := e.trackRun(ctx, acct, jobID, "", true, true); err != nil {
		return "", err
	}
	return e.currentRun(ctx, acct, jobID)
}

// trackRun opens a run when the job starts sending and closes it when idle.
func (e *Engine) trackRun(ctx context.Context, acct, jobID, run string, busy, sending bool) error {
	switch {
	case run == "" && sending:
		// Claim the job's run slot before starting the run: a job run task
		// may have attached its own since this plan read the state, and a
		// run started first and then refused the slot was left open for
		// good (and became the job's last run).
		runID := jobs.NewRunID()
		claimed, err := e.rdb.HSetNX(ctx, e.k.state(acct, jobID), "run", runID).Result()
		if err != nil || !claimed {
			return err
		}
		_, err = e.jobs.StartRun(ctx, acct, jobID, runID, "changes")
		return err
	case run != "" && !busy:
		outcome := jobs.OutcomeSuccess
		r, err := e.jobs.GetRun(ctx, acct, jobID, run)
		switch {
		case err == nil && r.Counters["failed"] > 0:
			outcome = jobs.OutcomePartial
		case err != nil && !errors.Is(err, jobs.ErrNotFound):
			return err
		}
		if err := e.jobs.FinishRun(ctx, acct, jobID, run, outcome, ""); err != nil {
			return err
		}
		// Only if it is still the current run: a job run task may have
		// attached its own since this plan read the state (AttachRun).
		return hdelIfScript.Run(ctx, e.rdb, []string{e.k.state(acct, jobID)}, "run", run).Err()
	}
	return nil
}

// AttachRun makes runID the job's current run (a job run task opened it), so
// that the sends it causes count there, and asks in the same step for every
// waiting user to be sent now (RequestFlush).
func (e *Engine) AttachRun(ctx context.Context, acct, jobID, runID string) error {
	old, err := swapRunScript.Run(ctx, e.rdb, []string{e.k.state(acct, jobID)}, runID, flushToken()).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("attaching run of job %s: %w", jobID, err)
	}
	if old != "" && old != runID {
		// The run it replaces ends (its detaching is a no-op now).
		return e.trackRun(ctx, acct, jobID, old, false, false)
	}
	return nil
}

// FailRun ends the job's open run, if any, as failed with msg: the job
// failed (a permanent Braze answer) and its run would stay open until the
// job runs again.
func (e *Engine) FailRun(ctx context.Context, acct, jobID, msg string) error {
	run, err := e.currentRun(ctx, acct, jobID)
	if err != nil || run == "" {
		return err
	}
	if err := e.jobs.FinishRun(ctx, acct, jobID, run, jobs.OutcomeFailed, msg); err != nil {
		return err
	}
	if err := hdelIfScript.Run(ctx, e.rdb, []string{e.k.state(acct, jobID)}, "run", run).Err(); err != nil {
		return fmt.Errorf("detaching the failed run of job %s: %w", jobID, err)
	}
	return nil
}

// currentRun returns the job's open run ("" when none).
func (e *Engine) currentRun(ctx context.Context, acct, jobID string) (string, error) {
	r, err := e.rdb.HGet(ctx, e.k.state(acct, jobID), "run").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("reading the current run of job %s: %w", jobID, err)
	}
	return r, nil
}

package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Exports handles the export tasks and runs Export Audience jobs.
type Exports struct {
	Engine *export.Engine
	Jobs   *jobs.Store
	Logger *slog.Logger
	// SendBudget bounds one send task, so that other accounts' tasks get
	// workers between. Default 10s.
	SendBudget time.Duration
	// Enqueuer enqueues a sender's successor when its budget ends with
	// users still waiting, so that a busy job's slot is never idle waiting
	// for the scheduler's next tick. Default: a client on the worker
	// server's Redis.
	Enqueuer tasks.Enqueuer
}

// Register adds the export handlers to a worker server.
func (x *Exports) Register(s *Server) {
	if x.Enqueuer == nil {
		x.Enqueuer = asynq.NewClientFromRedisClient(s.rdb)
	}
	s.HandleFunc(tasks.TypeExportFeed, x.feed)
	s.HandleFunc(tasks.TypeExportBackfill, x.backfill)
	s.HandleFunc(tasks.TypeExportSend, x.send)
}

func (x *Exports) feed(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	_, err := x.Engine.Feed(ctx, p.Account, p.JobID, 50_000)
	if err == nil {
		x.kick(ctx, p.Account, p.JobID)
	}
	return x.classify(ctx, p, err)
}

func (x *Exports) backfill(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	_, err := x.Engine.Backfill(ctx, p.Account, p.JobID, 2*time.Second)
	if err == nil {
		x.kick(ctx, p.Account, p.JobID)
	}
	return x.classify(ctx, p, err)
}

func (x *Exports) send(ctx context.Context, t *asynq.Task) error {
	var p tasks.ExportStep
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	budget := x.SendBudget
	if budget <= 0 {
		budget = 10 * time.Second
	}
	more, err := x.Engine.Send(ctx, p.Account, p.JobID, p.Slot, budget)
	if err == nil && more && x.Enqueuer != nil {
		// The successor has another payload than this task (whose unique
		// lock holds until it returns), and takes the slot this task just
		// released.
		next := export.Work{Kind: export.WorkSend, Account: p.Account, JobID: p.JobID, Slot: x.Engine.SuccessorSlot(p.Slot)}
		if eerr := export.Enqueue(ctx, x.Enqueuer, next); eerr != nil {
			x.Logger.WarnContext(ctx, "enqueueing the next sender failed; the scheduler will", "account", p.Account, "job", p.JobID, "err", eerr)
		}
	}
	return x.classify(ctx, p, err)
}

// kick enqueues the work a job needs now, as the scheduler's pump would at
// its next tick: a run, a feed or a backfill chunk that made users wait gets
// its senders at once. Failures only log: the pump catches up.
func (x *Exports) kick(ctx context.Context, acct, jobID string) {
	if x.Enqueuer == nil {
		return
	}
	work, err := x.Engine.DueJob(ctx, acct, jobID)
	for _, w := range work {
		if eerr := export.Enqueue(ctx, x.Enqueuer, w); eerr != nil {
			err = eerr
		}
	}
	if err != nil {
		x.Logger.WarnContext(ctx, "enqueueing an export job's next tasks failed; the scheduler will", "account", acct, "job", jobID, "err", err)
	}
}

// classify handles the engine's errors: a permanent Braze answer fails the
// job and its run (no retry storm), a job that no longer exists is done;
// waits and validation errors go to the worker as they are.
func (x *Exports) classify(ctx context.Context, p tasks.ExportStep, err error) error {
	if err == nil {
		return nil
	}
	var pe *fault.PermanentError
	switch {
	case errors.As(err, &pe):
		// The engine recorded the reason in the job's health and log; the
		// run and the job fail with it. If that cannot be recorded, the
		// task is retried and meets the same answer again.
		msg := pe.Err.Error()
		if _, serr := x.Jobs.SetState(ctx, p.Account, p.JobID, jobs.StateFailed); serr != nil {
			return fmt.Errorf("failing job %s after %s: %w", p.JobID, msg, serr)
		}
		if ferr := x.Engine.FailRun(ctx, p.Account, p.JobID, msg); ferr != nil {
			return fmt.Errorf("failing the run of job %s after %s: %w", p.JobID, msg, ferr)
		}
		x.Logger.ErrorContext(ctx, "export job failed", "account", p.Account, "job", p.JobID, "err", msg)
		return err
	case errors.Is(err, jobs.ErrNotFound):
		return nil
	}
	return err
}

// OwnsHealth marks Exports as a HealthOwner: its deliveries, not its run
// tasks, make the job ok.
func (x *Exports) OwnsHealth() {}

// RunJob is the Runner of braze_export_audience jobs: a run (at creation,
// on schedule, or asked) sets the job up if needed, opens a run that the
// sends count into, and asks for every waiting user to be sent now. The run
// stays open until the job is idle (the pump closes it).
func (x *Exports) RunJob(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
	if err := x.Engine.Setup(ctx, j); err != nil {
		return "", err
	}
	if err := x.Engine.AttachRun(ctx, j.Account, j.ID, r.ID); err != nil {
		return "", err
	}
	if _, err := x.Engine.Feed(ctx, j.Account, j.ID, 50_000); err != nil {
		return "", err
	}
	if err := x.Engine.RequestFlush(ctx, j.Account, j.ID); err != nil {
		return "", err
	}
	x.kick(ctx, j.Account, j.ID)
	return jobs.OutcomeRunning, nil
}

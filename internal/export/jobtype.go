package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TypeName is the API's type of Export Audience jobs.
const TypeName = "braze_export_audience"

// SendBudgetDefault bounds one send task (TypeOptions.SendBudget).
const SendBudgetDefault = 10 * time.Second

// feedMax is the most change-log entries one feed moves.
const feedMax = 50_000

// backfillBudget bounds one backfill task.
const backfillBudget = 2 * time.Second

// TypeOptions are what Export Audience jobs need beside the engine.
type TypeOptions struct {
	// AudienceExists reports whether an audience exists in an account (an
	// error when not): a job names existing audiences only.
	AudienceExists func(ctx context.Context, acct, slug string) error
	// Enqueuer enqueues a job's next steps as soon as a step makes users
	// wait or a sender's budget ends with users still waiting, so that no
	// step waits for the scheduler's next tick. Nil: only the scheduler's
	// pump enqueues them.
	Enqueuer tasks.Enqueuer
	// SendBudget bounds one send task, so that other accounts' tasks get
	// workers between. Default SendBudgetDefault.
	SendBudget time.Duration
	// Logger logs failed jobs and enqueues; default the engine's.
	Logger *slog.Logger
}

// JobType is the registration of Export Audience jobs, run by e: a run
// sets the job up and asks for every waiting user to be sent; the export's
// own tasks (feed, backfill, send) move users; the scheduler's pump asks
// for them as jobs need; a change of the job reconciles its audiences.
func (e *Engine) JobType(o TypeOptions) jobtype.Type {
	if o.SendBudget <= 0 {
		o.SendBudget = SendBudgetDefault
	}
	if o.Logger == nil {
		o.Logger = e.opts.Logger
	}
	s := &steps{e: e, o: o}
	return jobtype.Type{
		Name:               TypeName,
		Queue:              tasks.QueueExport,
		AuthorizationTypes: []string{"braze"},
		Validate:           e.validator(o.AudienceExists),
		Run:                jobtype.RunnerFunc(s.run),
		OwnsHealth:         true,
		KeepsRunning:       true,
		Tasks: map[string]asynq.Handler{
			tasks.TypeExportFeed:     asynq.HandlerFunc(s.feed),
			tasks.TypeExportBackfill: asynq.HandlerFunc(s.backfill),
			tasks.TypeExportSend:     asynq.HandlerFunc(s.send),
		},
		Pump:    e.pump,
		Changed: e.Changed,
	}
}

// validator checks a job's config, that its audiences exist and that the
// array attribute it shares with other jobs has room for them
// (checkArrayLimit).
func (e *Engine) validator(exists func(ctx context.Context, acct, slug string) error) func(ctx context.Context, j *jobs.Job) error {
	return func(ctx context.Context, j *jobs.Job) error {
		c, err := ParseConfig(j.Config)
		if err != nil {
			return err
		}
		if exists != nil {
			for i, slug := range c.Audiences {
				if err := exists(ctx, j.Account, slug); err != nil {
					return &fault.ValidationError{Field: fmt.Sprintf("config.audiences[%d]", i), Message: fmt.Sprintf("audience %q does not exist in this account", slug)}
				}
			}
		}
		return e.checkArrayLimit(ctx, j, c)
	}
}

// pump enqueues the export tasks that export jobs need now: a feed when
// the change log has new entries, a backfill chunk while few users wait,
// and senders when users wait long enough. Each task is unique while
// queued, so asking every second piles nothing up.
//
// Uniqueness lasts tasks.ExportStepUnique at most: a worker that dies with
// a task leaves its lock behind, and its work must resume within seconds,
// not when Asynq recovers the task minutes later. A duplicate that runs
// meanwhile is harmless: every step is safe to run twice and a sender
// holds its slot in Redis (Engine.Send).
func (e *Engine) pump(ctx context.Context, enq tasks.Enqueuer) error {
	work, err := e.Due(ctx)
	errs := []error{err}
	for _, w := range work {
		errs = append(errs, Enqueue(ctx, enq, w))
	}
	return errors.Join(errs...)
}

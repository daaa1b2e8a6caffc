// Package scheduler turns job schedules into tasks.
//
// Every second it claims the occurrences that are due from the schedule
// index (jobs.Store.ClaimDue: an atomic compare-and-set per job, so that of
// several scheduler processes exactly one claims each occurrence) and
// enqueues one tasks.TypeJobRun per occurrence with a task id derived from
// the job and the due time (so that even a claim repeated after a crash
// enqueues once). The index is written by the API when a job is created,
// changed, paused, resumed or deleted, so changes take effect within a
// second.
//
// It also registers fixed maintenance tasks (Periodic) with Asynq's
// scheduler, deduplicated across processes by their own asynq.Unique
// window (tasks.MaintenanceUnique).
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/logging"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Periodic is a fixed maintenance task; its constructor sets its
// uniqueness window.
type Periodic struct {
	// Cronspec is when: "@every 1h", "*/5 * * * *".
	Cronspec string
	Task     *asynq.Task
}

// Config configures the scheduler.
type Config struct {
	// Tick is how often due occurrences are claimed (default 1s).
	Tick     time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
	Periodic []Periodic
	// Types are the job types: the queue of each type's runs, and the
	// pumps called every tick to feed work progressively (exports).
	Types *jobtype.Registry
	// Claimed, when set, is called after every claim round (test signal).
	Claimed func(n int)
}

// Scheduler is the scheduler process's component.
type Scheduler struct {
	cfg   Config
	jobs  *jobs.Store
	enq   tasks.Enqueuer
	rdb   redis.UniversalClient
	async *asynq.Scheduler

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// New returns a Scheduler.
func New(rdb redis.UniversalClient, js *jobs.Store, enq tasks.Enqueuer, cfg Config) *Scheduler {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{cfg: cfg, jobs: js, enq: enq, rdb: rdb}
}

// Start starts the claim loop and the maintenance schedule.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.stopped {
		return errors.New("scheduler: already started")
	}
	if len(s.cfg.Periodic) > 0 {
		s.async = asynq.NewSchedulerFromRedisClient(s.rdb, &asynq.SchedulerOpts{
			Logger: logging.Asynq(s.cfg.Logger.With("component", "asynq")), LogLevel: asynq.WarnLevel,
		})
		for _, p := range s.cfg.Periodic {
			if _, err := s.async.Register(p.Cronspec, p.Task); err != nil {
				return err
			}
		}
		if err := s.async.Start(); err != nil {
			return err
		}
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		n, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("scheduling round failed", "err", err)
		}
		if err := s.cfg.Types.Pump(ctx, s.enq); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("pump failed", "err", err)
		}
		if s.cfg.Claimed != nil {
			s.cfg.Claimed(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick claims and enqueues what is due now; it returns how many runs it
// enqueued. An occurrence that could not be enqueued is logged with its
// job and returned; the job's next occurrence runs as usual.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	due, err := s.jobs.ClaimDue(ctx, s.cfg.Now(), 500)
	errs := []error{err}
	n := 0
	for _, d := range due {
		if eerr := tasks.EnqueueRun(ctx, s.enq, tasks.JobRun{Account: d.Account, JobID: d.JobID, Trigger: "schedule", DueAt: d.At}, s.cfg.Types.Queue(d.Type)); eerr != nil {
			s.cfg.Logger.Warn("enqueueing scheduled run failed; the occurrence is skipped", "account", d.Account, "job", d.JobID, "due_at", d.At, "err", eerr)
			errs = append(errs, fmt.Errorf("the occurrence due at %s: %w", d.At.Format(time.RFC3339), eerr))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Stop stops the scheduler. Idempotent; safe before Start.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel, done, async := s.cancel, s.done, s.async
	s.stopped = true
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if async != nil {
		async.Shutdown()
	}
}

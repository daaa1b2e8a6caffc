// Package workers runs Asynq tasks: the worker server with its shared
// middleware (logging, metrics, error classification), the runs of every
// registered job type (JobRuns, over internal/jobtype's registry) and the
// audience and maintenance tasks. It names no job type.
package workers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/logging"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Config configures the worker server.
type Config struct {
	// Concurrency is how many tasks run at once (WORKER_CONCURRENCY).
	Concurrency int
	// ShutdownTimeout is how long running tasks may finish after Stop; then
	// they are requeued.
	ShutdownTimeout time.Duration
	// Queues and weights; default tasks.QueueWeights.
	Queues   map[string]int
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Server is the Asynq worker server as a long-running component.
type Server struct {
	cfg     Config
	rdb     redis.UniversalClient
	mux     *asynq.ServeMux
	metrics *taskMetrics

	mu      sync.Mutex
	srv     *asynq.Server
	stopped bool
}

// NewServer returns a worker server on the shared Redis client.
func NewServer(rdb redis.UniversalClient, cfg Config) *Server {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Queues == nil {
		cfg.Queues = tasks.QueueWeights
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, rdb: rdb, mux: asynq.NewServeMux(), metrics: newTaskMetrics(cfg.Registry)}
	s.mux.Use(s.observe)
	return s
}

// Handle registers a handler for a task type.
func (s *Server) Handle(taskType string, h asynq.Handler) { s.mux.Handle(taskType, h) }

// HandleFunc registers a handler function for a task type.
func (s *Server) HandleFunc(taskType string, h func(context.Context, *asynq.Task) error) {
	s.mux.HandleFunc(taskType, h)
}

// HandleJobs registers the runs of the job types of types (tasks.TypeJobRun,
// recorded in js) and the task handlers each type brings.
func (s *Server) HandleJobs(js *jobs.Store, types *jobtype.Registry, logger *slog.Logger) {
	if logger == nil {
		logger = s.cfg.Logger
	}
	s.mux.Handle(tasks.TypeJobRun, &JobRuns{Jobs: js, Types: types, Logger: logger})
	for _, t := range types.Types() {
		for name, h := range t.Tasks {
			s.mux.Handle(name, h)
		}
	}
}

// Start starts processing; it returns once the server runs.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.stopped {
		return errors.New("workers: already started")
	}
	log := s.cfg.Logger
	s.srv = asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency:     s.cfg.Concurrency,
		Queues:          s.cfg.Queues,
		ShutdownTimeout: s.cfg.ShutdownTimeout,
		IsFailure:       IsFailure,
		RetryDelayFunc:  RetryDelay,
		// Waits and retries come back within a second of their time.
		DelayedTaskCheckInterval: time.Second,
		// An idle worker looks for new tasks every 100 ms (Asynq's default
		// is 1 s), so an upload's import starts within a second.
		TaskCheckInterval: 100 * time.Millisecond,
		BaseContext:       func() context.Context { return context.WithoutCancel(ctx) },
		Logger:            logging.Asynq(log.With("component", "asynq")),
		LogLevel:          asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if IsFailure(err) {
				log.WarnContext(ctx, "task failed", "type", t.Type(), "err", err, "permanent", isPermanent(err))
			}
		}),
	})
	return s.srv.Start(s.mux)
}

// Stop stops taking tasks and lets running ones finish up to the shutdown
// timeout (then they are requeued). Idempotent; safe before Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.stopped = true
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

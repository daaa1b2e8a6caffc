package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/redisconn"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/scheduler"
	"github.com/brazesync/brazesync/tasks"
	"github.com/brazesync/brazesync/workers"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// app holds what every subcommand shares: one Redis client, the sealing box,
// the stores and the metrics registry.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	rdb      redis.UniversalClient
	ns       keyspace.Namespace
	box      *secrets.Box
	registry *prometheus.Registry
	// egress is the policy customer-supplied destinations pass
	// (BRAZESYNC_EGRESS_ALLOW).
	egress *egress.Policy
	client *asynq.Client

	accounts  *accounts.Store
	auths     *authorizations.Store
	jobs      *jobs.Store
	profiles  *profiles.Store
	audiences *audiences.Service
	changelog *changelog.Log
	export    *export.Engine
	// types are the job types, registered once (newApp).
	types *jobtype.Registry
}

// newApp connects to Redis and builds the stores.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	rdb, err := redisconn.New(cfg.RedisURL)
	if err != nil {
		return nil, &config.Error{Var: "REDIS_URL", Reason: err.Error()}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, errors.Join(fmt.Errorf("cannot reach Redis at %s (REDIS_URL): %w", redisconn.Address(cfg.RedisURL), err), closeRedis(rdb))
	}
	box, err := secrets.NewBox(cfg.MasterKeys...)
	if err != nil {
		return nil, errors.Join(&config.Error{Var: "BRAZESYNC_MASTER_KEY", Reason: err.Error()}, closeRedis(rdb))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &app{cfg: cfg, log: log, rdb: rdb, ns: keyspace.DefaultNamespace, box: box, registry: reg, client: asynq.NewClientFromRedisClient(rdb), egress: egress.New(cfg.EgressAllow...)}
	a.accounts = accounts.New(rdb, a.ns, nil)
	a.auths = authorizations.New(rdb, a.ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{
		AllowInsecure: cfg.AllowInsecureEndpoints, AllowCustomEndpoints: cfg.AllowCustomBrazeEndpoints, Egress: a.egress})))
	for _, t := range a.importAuthorizationTypes() {
		a.auths.Types().Add(t)
	}
	a.jobs = jobs.New(rdb, a.ns, a.auths, nil)
	// Jobs' events (run ends, health changes) become notification deliveries.
	a.jobs.SetEvents(notify.Sink{Enqueuer: a.client})
	a.audiences = audiences.New(rdb, a.ns, nil, audiences.Options{Logger: log})
	a.profiles = profiles.New(rdb, a.ns, a.audiences, profiles.Options{Logger: log})
	a.audiences.UseProfiles(a.profiles)
	a.changelog = changelog.New(rdb, a.ns, changelog.Options{})
	a.export = export.New(rdb, a.ns, a.jobs, a.auths, a.profiles, a.audiences, a.changelog, ratelimit.New(rdb, a.ns),
		export.Options{AllowInsecure: cfg.AllowInsecureEndpoints, AllowCustomEndpoints: cfg.AllowCustomBrazeEndpoints, Egress: a.egress,
			Logger: log.With("component", "export"), Registerer: reg})
	// The job types: one line each.
	types, err := jobtype.NewRegistry(
		a.export.JobType(export.TypeOptions{AudienceExists: a.audiences.Exists, Enqueuer: a.client}),
		a.importRunner().JobType(),
	)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("registering job types: %w", err)
	}
	a.types = types
	for _, t := range types.JobTypes() {
		a.jobs.AddType(t)
	}
	return a, nil
}

// close closes the Redis connections, which the Asynq client shares (so it
// has nothing of its own to close).
func (a *app) close() {
	if err := a.rdb.Close(); err != nil {
		a.log.Warn("closing the Redis connections", "err", err)
	}
}

// closeRedis closes rdb after a failed start; its error, if any, says so.
func closeRedis(rdb redis.UniversalClient) error {
	if err := rdb.Close(); err != nil {
		return fmt.Errorf("closing the Redis connections: %w", err)
	}
	return nil
}

// apiServer builds the HTTP API with asynqmon and queue metrics.
func (a *app) apiServer() (*api.Server, func(), error) {
	opt, err := redisconn.AsynqOpt(a.cfg.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt})
	monRO := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt, ReadOnly: true})
	inspector := asynq.NewInspectorFromRedisClient(a.rdb)
	a.registry.MustRegister(workers.NewQueueCollector(inspector))
	srv := api.New(api.Deps{
		Redis: a.rdb, Accounts: a.accounts, Authorizations: a.auths, Jobs: a.jobs, Enqueuer: a.client,
		OperatorToken: a.cfg.AdminToken, Logger: a.log, Registry: a.registry, Gatherer: a.registry,
		Monitoring:           http.Handler(mon),
		MonitoringReadOnly:   http.Handler(monRO),
		MonitorToken:         a.cfg.MonitorToken,
		Types:                a.types,
		Groups:               append(append(a.dataRoutes(), a.managedRoutes()...), a.importRoutes(), a.exportRoutes()),
		AuthorizationTesters: a.authorizationTesters(),
		RunTasks:             inspector,
		Notify: &api.NotifySettings{
			Checker: notify.Checker{AllowInsecure: a.cfg.AllowInsecureEndpoints, Egress: a.egress}, Box: a.box},
	})
	closeMon := func() {
		for _, h := range []*asynqmon.HTTPHandler{mon, monRO} {
			if err := h.Close(); err != nil {
				a.log.Warn("closing asynqmon's Redis connections", "err", err)
			}
		}
	}
	return srv, closeMon, nil
}

// workerServer builds the worker with every task handler.
func (a *app) workerServer() *workers.Server {
	a.cleanImportStaging()
	w := workers.NewServer(a.rdb, workers.Config{
		Concurrency: a.cfg.WorkerConcurrency, ShutdownTimeout: a.cfg.ShutdownTimeout,
		Logger: a.log.With("component", "worker"), Registry: a.registry,
	})
	w.HandleJobs(a.jobs, a.types, a.log.With("component", "jobs"))
	w.Handle(tasks.TypeNotifyDeliver, notify.NewDeliverer(notify.Deliverer{
		Jobs: a.jobs, Box: a.box, Egress: a.egress, Logger: a.log.With("component", "notify")}))
	a.registerData(w)
	return w
}

func (a *app) schedulerComponent() *scheduler.Scheduler {
	return scheduler.New(a.rdb, a.jobs, a.client, scheduler.Config{
		Logger: a.log.With("component", "scheduler"),
		Types:  a.types,
		Periodic: []scheduler.Periodic{
			{Cronspec: "@every 1h", Task: tasks.NewMaintenanceHourly()},
		},
	})
}

// component is a long-running piece with the shared lifecycle.
type component struct {
	name  string
	start func(ctx context.Context) error
	stop  func()
}

// components starts and stops a list of components in order (stop in
// reverse).
type components []component

func (cs components) start(ctx context.Context) error {
	for i, c := range cs {
		if err := c.start(ctx); err != nil {
			components(cs[:i]).stop()
			return fmt.Errorf("starting %s: %w", c.name, err)
		}
	}
	return nil
}

func (cs components) stop() {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].stop()
	}
}

// background lists the components that run beside the worker server in a
// worker process (stream processors).
func (a *app) background() components {
	return a.dataBackground()
}

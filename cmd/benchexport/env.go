package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const acct = "bench"

// env is the benchmark's world: a leased Redis database with the stores,
// and the simulator.
type env struct {
	cfg         config
	url         string
	rdb         *redis.Client
	release     func()
	sim         *brazesim.Sim
	simSrv      *brazesim.Server
	simURL      string
	prof        *profiles.Store
	aud         *audiences.Service
	auths       *authorizations.Store
	jobs        *jobs.Store
	engine      *export.Engine
	client      *asynq.Client
	job         *jobs.Job
	memberships int
}

func newEnv(ctx context.Context, c config, key []byte) (*env, error) {
	base, err := redis.ParseURL(redisURL())
	if err != nil {
		return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
	}
	db, release, err := leaseDB(ctx, base)
	if err != nil {
		return nil, err
	}
	opt := *base
	opt.DB = db
	e := &env{cfg: c, rdb: redis.NewClient(&opt), release: release}
	e.url = fmt.Sprintf("redis://%s/%d", opt.Addr, db)
	if opt.Password != "" {
		e.url = fmt.Sprintf("redis://:%s@%s/%d", opt.Password, opt.Addr, db)
	}
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		e.close()
		return nil, fmt.Errorf("flushing database %d: %w", db, err)
	}
	e.sim = brazesim.New(brazesim.Options{RateLimit: c.limit, RateWindow: c.window})
	e.simSrv = brazesim.NewServer("127.0.0.1:0", e.sim, slog.New(slog.DiscardHandler))
	if err := e.simSrv.Start(ctx); err != nil {
		e.close()
		return nil, err
	}
	e.simURL = e.simSrv.URL()
	ns := keyspace.DefaultNamespace
	log := slog.New(slog.DiscardHandler)
	e.aud = audiences.New(e.rdb, ns, nil, audiences.Options{Logger: log})
	e.prof = profiles.New(e.rdb, ns, e.aud, profiles.Options{Logger: log})
	e.aud.UseProfiles(e.prof)
	box, err := secrets.NewBox(key)
	if err != nil {
		e.close()
		return nil, err
	}
	// The simulator listens on loopback, which the egress policy must let
	// through.
	loopback := egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	e.auths = authorizations.New(e.rdb, ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopback})))
	e.jobs = jobs.New(e.rdb, ns, e.auths, nil)
	e.engine = export.New(e.rdb, ns, e.jobs, e.auths, e.prof, e.aud, changelog.New(e.rdb, ns, changelog.Options{}), ratelimit.New(e.rdb, ns), export.Options{AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopback, Logger: log})
	e.client = asynq.NewClientFromRedisClient(e.rdb)
	e.jobs.AddType(e.engine.JobType(export.TypeOptions{AudienceExists: e.aud.Exists, Enqueuer: e.client}).Job())
	return e, nil
}

func (e *env) close() {
	if e.client != nil {
		_ = e.client.Close()
	}
	if e.simSrv != nil {
		e.simSrv.Stop()
	}
	if e.rdb != nil {
		_ = e.rdb.FlushDB(context.Background()).Err()
		_ = e.rdb.Close()
	}
	e.release()
}

// ceiling is the limit's ceiling in users per second.
func (e *env) ceiling() float64 {
	return float64(e.cfg.limit) / e.cfg.window.Seconds() * 75
}

// load writes the profiles: user i is in audience i%3, and every other
// user also in the next one, so every user is a member and there are 1.5
// memberships a user.
func (e *env) load(ctx context.Context) error {
	if _, err := e.aud.EnsureDefaults(ctx, acct); err != nil {
		return err
	}
	for a := range 3 {
		rule := fmt.Sprintf(`{"field":"s%d","op":"eq","value":"y"}`, a)
		if _, err := e.aud.Create(ctx, acct, audiences.Audience{Slug: fmt.Sprintf("seg%d", a), Name: fmt.Sprintf("seg%d", a), Kind: audiences.KindRule, Rule: []byte(rule)}); err != nil {
			return err
		}
	}
	const batch = 10_000
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range next {
				recs := make([]profiles.Record, 0, batch)
				for i := from; i < min(from+batch, e.cfg.users); i++ {
					f := map[string]any{"braze_id": fmt.Sprintf("user-%07d", i), fmt.Sprintf("s%d", i%3): "y"}
					if i%2 == 0 {
						f[fmt.Sprintf("s%d", (i+1)%3)] = "y"
					}
					recs = append(recs, profiles.Record{Fields: f})
				}
				res, err := e.prof.Upsert(ctx, acct, "braze_users", recs)
				if err == nil && len(res.Rejected) > 0 {
					err = fmt.Errorf("%d profiles rejected, e.g. %+v", len(res.Rejected), res.Rejected[0])
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for from := 0; from < e.cfg.users; from += batch {
		next <- from
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	e.memberships = e.cfg.users + (e.cfg.users+1)/2
	return nil
}

// phase is what one measured run cost.
type phase struct {
	// steady is users/s between 10% and 90% of the users sent (no start-up,
	// no tail); zero when not measured.
	steady   float64
	users    int
	elapsed  time.Duration
	counts   brazesim.Counts
	cpu      float64
	workers  int
	schedCPU float64
}

func (p phase) print(name string, e *env) {
	ups := float64(p.users) / p.elapsed.Seconds()
	fmt.Printf("\n%s: %d users in %s\n", name, p.users, p.elapsed.Round(time.Millisecond))
	if p.counts.Requests > 0 {
		fmt.Printf("  users/s                 %.0f (%.3f of the ceiling %.0f)\n", ups, ups/e.ceiling(), e.ceiling())
		if p.steady > 0 {
			fmt.Printf("  users/s from 10%% to 90%% %.0f (%.3f of the ceiling)\n", p.steady, p.steady/e.ceiling())
		}
	} else {
		fmt.Printf("  users checked/s         %.0f (no request needed)\n", ups)
	}
	rl := 0.0
	if p.counts.Requests > 0 {
		rl = 100 * float64(p.counts.RateLimited) / float64(p.counts.Requests)
	}
	fmt.Printf("  requests                %d, %d answered 429 (%.2f%%)\n", p.counts.Requests, p.counts.RateLimited, rl)
	fmt.Printf("  data points             %d (%.3f a user; one per user per audience would be %d)\n",
		p.counts.DataPoints, float64(p.counts.DataPoints)/float64(max(p.users, 1)), e.memberships)
	fmt.Printf("  CPU of %d workers       %.1f s (%.2f s per 100,000 users); scheduler %.1f s\n",
		p.workers, p.cpu, p.cpu/float64(max(p.users, 1))*100_000, p.schedCPU)
}

func cpuOf(procs []*proc) (workers, sched float64) {
	for _, p := range procs {
		if p.name == "scheduler" {
			sched += p.cpuSeconds()
		} else {
			workers += p.cpuSeconds()
		}
	}
	return workers, sched
}

// backfill creates the export job with existing_users and waits until
// every member is in the simulator.
func (e *env) backfill(ctx context.Context, procs []*proc) (phase, error) {
	label := "bench"
	a, _, err := e.auths.Create(ctx, acct, authorizations.Input{Type: "braze", Label: &label,
		Config:  map[string]any{"rest_endpoint": e.simURL, "rate_limit": e.cfg.limit, "rate_limit_window_seconds": int(e.cfg.window.Seconds())},
		Secrets: map[string]string{"api_key": "bench-key"}})
	if err != nil {
		return phase{}, err
	}
	cpu0, sched0 := cpuOf(procs)
	before := e.sim.Stats().Counts
	start := time.Now()
	e.job, err = e.jobs.Create(ctx, acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &a.ID,
		Config: map[string]any{"audiences": []any{"seg0", "seg1", "seg2"}, "existing_users": true}})
	if err != nil {
		return phase{}, err
	}
	if err := e.engine.Changed(ctx, nil, e.job); err != nil {
		return phase{}, err
	}
	if err := tasks.EnqueueRun(ctx, e.client, tasks.JobRun{Account: acct, JobID: e.job.ID, Trigger: "create"}, tasks.QueueExport); err != nil {
		return phase{}, err
	}
	lastReport := start
	var t10, t90 time.Time
	for {
		st := e.sim.Stats().Counts
		sent := int(st.Objects - before.Objects)
		if t10.IsZero() && sent >= e.cfg.users/10 {
			t10 = time.Now()
		}
		if t90.IsZero() && sent >= e.cfg.users*9/10 {
			t90 = time.Now()
		}
		if sent >= e.cfg.users {
			break
		}
		if time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			fmt.Printf("  %5.0fs %d users sent, %d requests, %d answered 429\n", time.Since(start).Seconds(), st.Objects-before.Objects, st.Requests-before.Requests, st.RateLimited-before.RateLimited)
		}
		if time.Since(start) > 2*time.Hour {
			return phase{}, errors.New("the backfill did not end within 2 hours")
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu1, sched1 := cpuOf(procs)
	after := e.sim.Stats().Counts
	ph := phase{users: e.cfg.users, elapsed: elapsed, counts: diff(after, before), cpu: cpu1 - cpu0, schedCPU: sched1 - sched0, workers: len(procs) - 1}
	if d := t90.Sub(t10); d > 0 {
		ph.steady = float64(e.cfg.users*9/10-e.cfg.users/10) / d.Seconds()
	}
	return ph, nil
}

// again walks every member again with nothing changed and waits until the
// walk has ended and no user waits.
func (e *env) again(ctx context.Context, procs []*proc) (phase, error) {
	if err := e.waitIdle(ctx, time.Time{}); err != nil {
		return phase{}, err
	}
	cpu0, sched0 := cpuOf(procs)
	before := e.sim.Stats().Counts
	start := time.Now()
	if err := e.engine.Recheck(ctx, e.job); err != nil {
		return phase{}, err
	}
	if err := e.waitIdle(ctx, start); err != nil {
		return phase{}, err
	}
	elapsed := time.Since(start)
	cpu1, sched1 := cpuOf(procs)
	return phase{users: e.cfg.users, elapsed: elapsed, counts: diff(e.sim.Stats().Counts, before), cpu: cpu1 - cpu0, schedCPU: sched1 - sched0, workers: len(procs) - 1}, nil
}

// waitIdle waits until the job's progress, written by the scheduler after
// since, shows a finished walk and nobody waiting or in flight.
func (e *env) waitIdle(ctx context.Context, since time.Time) error {
	deadline := time.Now().Add(2 * time.Hour)
	for time.Now().Before(deadline) {
		d, err := e.jobs.Describe(ctx, acct, e.job.ID)
		if err != nil {
			return err
		}
		p := d.Progress
		if fmt.Sprint(p["backfill_fraction"]) == "1" && fmt.Sprint(p["waiting"]) == "0" && fmt.Sprint(p["in_flight"]) == "0" && time.Since(since) > 3*time.Second {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the job did not become idle within 2 hours")
}

func diff(a, b brazesim.Counts) brazesim.Counts {
	return brazesim.Counts{Requests: a.Requests - b.Requests, RateLimited: a.RateLimited - b.RateLimited, DataPoints: a.DataPoints - b.DataPoints, Objects: a.Objects - b.Objects}
}

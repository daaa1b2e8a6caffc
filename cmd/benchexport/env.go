package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"runtime"
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
	"github.com/brazesync/brazesync/internal/redisserver"
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
	sim         *simClient
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

func newEnv(ctx context.Context, c config, key []byte, rawURL, simURL string) (*env, error) {
	base, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing the Redis URL: %w", err)
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
	e.simURL = simURL
	e.sim = &simClient{url: simURL, http: &http.Client{Timeout: 10 * time.Second}}
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
		slug := fmt.Sprintf("seg%d", a)
		if _, err := e.aud.Create(ctx, acct, audiences.Audience{Slug: slug, Name: slug, Kind: audiences.KindRule, Rule: []byte(rule)}); err != nil {
			return err
		}
		// Evaluated now, over no profile yet (the profiles loaded next
		// are placed as they are written), as the worker's task would.
		if _, _, _, err := e.aud.ReevaluateChunk(ctx, acct, slug, ""); err != nil {
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

// simClient reads the simulator's counters (GET /_sim/stats): the
// simulator runs as a `brazesync braze-sim` process, so that its CPU is
// measured apart from the benchmark's.
type simClient struct {
	url  string
	http *http.Client
}

func (s *simClient) stats(ctx context.Context) (brazesim.Counts, error) {
	st, err := s.all(ctx)
	return st.Counts, err
}

func (s *simClient) all(ctx context.Context) (brazesim.Stats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/_sim/stats", nil)
	if err != nil {
		return brazesim.Stats{}, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return brazesim.Stats{}, fmt.Errorf("reading the simulator's counters: %w", err)
	}
	defer resp.Body.Close()
	var st brazesim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return brazesim.Stats{}, fmt.Errorf("decoding the simulator's counters: %w", err)
	}
	return st, nil
}

// cpuSample is the CPU seconds every process of the benchmark has used so
// far.
type cpuSample struct {
	workers, sched, sim, redis, bench float64
	// busy and total are the machine's CPU ticks, every process counted.
	busy, total float64
	// cmds is INFO commandstats (a difference: the commands of the phase).
	cmds, cmds0 map[string]redisserver.CommandStat
}

func (a cpuSample) sub(b cpuSample) cpuSample {
	return cpuSample{a.workers - b.workers, a.sched - b.sched, a.sim - b.sim, a.redis - b.redis, a.bench - b.bench, a.busy - b.busy, a.total - b.total, a.cmds, b.cmds}
}

// sampleCPU reads the processes' CPU from /proc and Redis' from INFO cpu
// (server-wide: with -private-redis=false other clients of the server
// count too).
func (e *env) sampleCPU(ctx context.Context, procs []*proc) cpuSample {
	var s cpuSample
	for _, p := range procs {
		switch {
		case p.name == "scheduler":
			s.sched += p.cpuSeconds()
		case p.name == "braze-sim":
			s.sim += p.cpuSeconds()
		default:
			s.workers += p.cpuSeconds()
		}
	}
	// A Redis figure that cannot be read is reported and left at zero: the
	// benchmark's other figures stand.
	var err error
	if s.redis, err = redisserver.CPU(ctx, e.rdb); err != nil {
		fmt.Fprintln(os.Stderr, "benchexport:", err)
	}
	if s.cmds, err = redisserver.CommandStats(ctx, e.rdb); err != nil {
		fmt.Fprintln(os.Stderr, "benchexport:", err)
	}
	s.bench = selfCPU()
	s.busy, s.total = machineCPU()
	return s
}

// phase is what one measured run cost.
type phase struct {
	// steady is users/s between 10% and 90% of the users sent (no start-up,
	// no tail); zero when not measured.
	steady  float64
	users   int
	elapsed time.Duration
	counts  brazesim.Counts
	cpu     cpuSample
	workers int
	// runCounters are the job's run counters that tell where time went.
	runCounters string
}

func (p phase) print(name string, e *env) {
	ups := float64(p.users) / p.elapsed.Seconds()
	per100k := func(s float64) float64 { return s / float64(max(p.users, 1)) * 100_000 }
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
	if p.runCounters != "" {
		fmt.Printf("  the job's counters      %s\n", p.runCounters)
	}
	fmt.Printf("  data points             %d (%.3f a user; one per user per audience would be %d)\n",
		p.counts.DataPoints, float64(p.counts.DataPoints)/float64(max(p.users, 1)), e.memberships)
	c := p.cpu
	sec := p.elapsed.Seconds()
	fmt.Printf("  CPU seconds (cores)     %d workers %.1f (%.2f), Redis %.1f (%.2f), simulator %.1f (%.2f), scheduler %.1f, benchmark %.1f; all %.1f of %d cores\n",
		p.workers, c.workers, c.workers/sec, c.redis, c.redis/sec, c.sim, c.sim/sec, c.sched, c.bench,
		(c.workers+c.redis+c.sim+c.sched+c.bench)/sec, runtime.NumCPU())
	if c.total > 0 {
		ours := c.workers + c.redis + c.sim + c.sched + c.bench
		fmt.Printf("  machine                 %.0f%% busy (%.2f of %d cores), of which this benchmark's processes %.2f cores and other work %.2f\n",
			100*c.busy/c.total, float64(runtime.NumCPU())*c.busy/c.total, runtime.NumCPU(), ours/sec, max(0, float64(runtime.NumCPU())*c.busy/c.total-ours/sec))
	}
	fmt.Printf("  per 100,000 users       workers %.2f s, Redis %.2f s, simulator %.2f s\n", per100k(c.workers), per100k(c.redis), per100k(c.sim))
	fmt.Printf("  Redis time by command   %s\n", formatCommands(redisserver.TopCommands(c.cmds0, c.cmds, 6)))
}

// backfill creates the export job with existing_users and waits until
// every member is in the simulator.
func (e *env) backfill(ctx context.Context, procs []*proc, at10 func()) (phase, error) {
	label := "bench"
	a, _, err := e.auths.Create(ctx, acct, authorizations.Input{Type: "braze", Label: &label,
		Config:  map[string]any{"rest_endpoint": e.simURL, "rate_limit": e.cfg.limit, "rate_limit_window_seconds": int(e.cfg.window.Seconds())},
		Secrets: map[string]string{"api_key": "bench-key"}})
	if err != nil {
		return phase{}, err
	}
	cpu0 := e.sampleCPU(ctx, procs)
	before, err := e.sim.stats(ctx)
	if err != nil {
		return phase{}, err
	}
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
	var after brazesim.Counts
	for {
		st, err := e.sim.stats(ctx)
		if err != nil {
			return phase{}, err
		}
		after = st
		sent := int(st.Objects - before.Objects)
		if t10.IsZero() && sent >= e.cfg.users/10 {
			t10 = time.Now()
			if at10 != nil {
				at10()
			}
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
		time.Sleep(50 * time.Millisecond) // polling the simulator's counters
	}
	elapsed := time.Since(start)
	cpu1 := e.sampleCPU(ctx, procs)
	ph := phase{users: e.cfg.users, elapsed: elapsed, counts: diff(after, before), cpu: cpu1.sub(cpu0), workers: e.cfg.workers}
	if runs, err := e.jobs.Runs(ctx, acct, e.job.ID, 10); err == nil {
		sum := map[string]int64{}
		for _, r := range runs {
			for k, v := range r.Counters {
				sum[k] += v
			}
		}
		ph.runCounters = fmt.Sprintf("requests %d, rate-limit waits %d, retried %d, leases lost %d", sum["requests"], sum["rate_limit_waits"], sum["retried"], sum["leases_lost"])
	}
	if d := t90.Sub(t10); d > 0 {
		ph.steady = float64(e.cfg.users*9/10-e.cfg.users/10) / d.Seconds()
	}
	return ph, nil
}

// again walks every member again with nothing changed and waits until the
// walk has ended and no user waits.
func (e *env) again(ctx context.Context, procs []*proc) (phase, error) {
	if err := e.waitIdle(ctx); err != nil {
		return phase{}, err
	}
	st, err := e.sim.all(ctx)
	if err != nil {
		return phase{}, err
	}
	recorded, err := e.rdb.HLen(ctx, keyspace.DefaultNamespace.Account(acct, "export", e.job.ID, "sent")).Result()
	if err != nil {
		return phase{}, err
	}
	fmt.Printf("  after the backfill      %d users in Braze, %d objects accepted, %d states recorded as accepted\n", st.Users, st.Objects, recorded)
	cpu0 := e.sampleCPU(ctx, procs)
	before, err := e.sim.stats(ctx)
	if err != nil {
		return phase{}, err
	}
	start := time.Now()
	if err := e.engine.Recheck(ctx, e.job); err != nil {
		return phase{}, err
	}
	if err := e.waitIdle(ctx); err != nil {
		return phase{}, err
	}
	elapsed := time.Since(start)
	cpu1 := e.sampleCPU(ctx, procs)
	after, err := e.sim.stats(ctx)
	if err != nil {
		return phase{}, err
	}
	return phase{users: e.cfg.users, elapsed: elapsed, counts: diff(after, before), cpu: cpu1.sub(cpu0), workers: e.cfg.workers}, nil
}

// waitIdle waits until the job's walk has ended and nobody waits or is in
// flight, read from Redis directly (the pump's progress lags by its tick).
func (e *env) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Hour)
	key := func(s string) string { return keyspace.DefaultNamespace.Account(acct, "export", e.job.ID, s) }
	for time.Now().Before(deadline) {
		pending, err := e.rdb.HGet(ctx, key("state"), "bf_pending").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		waiting, err := e.rdb.ZCard(ctx, key("dirty")).Result()
		if err != nil {
			return err
		}
		leased, err := e.rdb.ZCard(ctx, key("inflight")).Result()
		if err != nil {
			return err
		}
		if pending != "1" && waiting == 0 && leased == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling the job's state
	}
	return errors.New("the job did not become idle within 2 hours")
}

func diff(a, b brazesim.Counts) brazesim.Counts {
	return brazesim.Counts{Requests: a.Requests - b.Requests, RateLimited: a.RateLimited - b.RateLimited, DataPoints: a.DataPoints - b.DataPoints, Objects: a.Objects - b.Objects}
}

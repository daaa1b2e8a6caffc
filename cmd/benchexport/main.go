// Command benchexport measures the Braze export end to end: a backfill of
// many audience members by real `brazesync worker` processes (and a
// `brazesync scheduler`) against the Braze simulator, served by this
// program with the rate limit given.
//
// It prints the users per second achieved and their ratio to the limit's
// ceiling (requests per second x 75 users), over the whole backfill and
// from 10% to 90% of the users sent, the share of requests answered 429,
// the data points spent, the CPU seconds of every process (workers, Redis
// by INFO cpu, the simulator, the scheduler, the benchmark itself) and the
// workers' and Redis' per 100,000 users, and then the cost of running the
// same export again with nothing changed (zero data points expected; users
// checked per second).
//
// The simulator runs as a `brazesync braze-sim` process and Redis, unless
// -private-redis=false, as a redis-server of the benchmark's own, so that
// each one's CPU is measured apart. -profile DIR builds the workers with
// pprof (-tags pprof) and writes a CPU profile of each one, taken once 10%
// of the users are sent, to DIR/worker-N.pprof (go tool pprof), and an
// execution trace of the second after it to DIR/worker-N.trace (go tool
// trace; -pprof=net or sync says where the workers' goroutines wait).
//
//	go run ./cmd/benchexport                                  # 1,000,000 users, 300 requests / 3 s
//	go run ./cmd/benchexport -users 1000000 -limit 3000       # Braze's real limit
//	go run ./cmd/benchexport -users 50000 -limit 300          # a quick run
//	go run ./cmd/benchexport -users 300000 -limit 3000 -profile /tmp/prof
//
// It needs redis-server on the PATH, or, with -private-redis=false, Redis at
// REDIS_URL (default redis://127.0.0.1:6379/0), where it leases a database
// 1..15 like the tests do, so it never shares one with a test run.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"
)

type config struct {
	users       int
	limit       int
	window      time.Duration
	workers     int
	concurrency int
	recheck     bool
	bin         string
	keep        bool
	private     bool
	profile     string
	profileSecs int
}

func main() {
	var c config
	flag.IntVar(&c.users, "users", 1_000_000, "audience members to backfill")
	flag.IntVar(&c.limit, "limit", 300, "simulator rate limit: requests per window")
	flag.DurationVar(&c.window, "window", 3*time.Second, "simulator rate-limit window")
	flag.IntVar(&c.workers, "workers", 2, "brazesync worker processes")
	flag.IntVar(&c.concurrency, "concurrency", 10, "WORKER_CONCURRENCY of each worker")
	flag.BoolVar(&c.recheck, "again", true, "run the export again with nothing changed and report its cost")
	flag.StringVar(&c.bin, "bin", "", "brazesync binary (default: go build ./cmd/brazesync)")
	flag.BoolVar(&c.keep, "keep", false, "keep the processes' logs directory")
	flag.BoolVar(&c.private, "private-redis", true, "start a redis-server of the benchmark's own (its CPU is then the benchmark's alone); false: REDIS_URL")
	flag.StringVar(&c.profile, "profile", "", "directory for a CPU profile of each worker, taken from 10% of the users sent (builds with -tags pprof)")
	flag.IntVar(&c.profileSecs, "profile-seconds", 5, "length of each worker's CPU profile (an execution trace of 1 s follows it)")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "benchexport:", err)
		os.Exit(1)
	}
}

func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func run(ctx context.Context, c config) error {
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			return err
		}
	}
	if c.users < 1 || c.limit < 1 || c.workers < 1 {
		return errors.New("-users, -limit and -workers must be positive")
	}
	dir, err := os.MkdirTemp("", "benchexport-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Println("logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if c.bin == "" {
		start := time.Now()
		if c.bin, err = buildBinary(dir, c.profile != ""); err != nil {
			return err
		}
		fmt.Printf("built brazesync in %s\n", time.Since(start).Round(time.Millisecond))
	}
	url := redisURL()
	if c.private {
		u, stop, err := startPrivateRedis(ctx, dir)
		if err != nil {
			return err
		}
		defer stop()
		url = u
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	sim, simURL, err := startSim(ctx, c, dir)
	if err != nil {
		return err
	}
	procs = append(procs, sim)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env, err := newEnv(ctx, c, key, url, simURL)
	if err != nil {
		return err
	}
	defer env.close()
	where := "shared with other clients: its CPU counts theirs too"
	if c.private {
		where = "the benchmark's own"
	}
	fmt.Printf("Redis %s (%s), simulator %s limited to %d requests per %s (ceiling %.0f users/s), %d workers of concurrency %d, %d cores\n",
		env.url, where, env.simURL, c.limit, c.window, env.ceiling(), c.workers, c.concurrency, runtime.NumCPU())

	start := time.Now()
	if err := env.load(ctx); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("loaded %d profiles (%d audience memberships in 3 rule audiences) in %s: %.0f profiles/s\n",
		c.users, env.memberships, el.Round(time.Millisecond), float64(c.users)/el.Seconds())

	procEnv := []string{
		"REDIS_URL=" + env.url,
		"BRAZESYNC_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key),
		"BRAZESYNC_ALLOW_INSECURE_ENDPOINTS=true",
		"BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS=true",
		"BRAZESYNC_EGRESS_ALLOW=127.0.0.0/8,::1/128",
		"LOG_LEVEL=warn",
		fmt.Sprintf("WORKER_CONCURRENCY=%d", c.concurrency),
		"DATA_DIR=" + dir,
	}
	p, err := startProc(c.bin, dir, "scheduler", "scheduler", procEnv)
	if err != nil {
		return err
	}
	procs = append(procs, p)
	pprofAddrs := map[string]string{}
	for i := range c.workers {
		name := fmt.Sprintf("worker-%d", i+1)
		penv := procEnv
		if c.profile != "" {
			addr, err := freeAddr()
			if err != nil {
				return err
			}
			pprofAddrs[name] = addr
			penv = append(slices.Clone(procEnv), "BRAZESYNC_PPROF_ADDR="+addr)
		}
		p, err := startProc(c.bin, dir, name, "worker", penv)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}

	var profiled <-chan error
	at10 := func() {
		if c.profile != "" {
			profiled = profileWorkers(ctx, pprofAddrs, c.profile, c.profileSecs)
		}
	}
	first, err := env.backfill(ctx, procs, at10)
	if err != nil {
		return err
	}
	first.print("backfill", env)
	if profiled != nil {
		if err := <-profiled; err != nil {
			return err
		}
		fmt.Printf("  profiles                %s/worker-N.pprof (%d s from 10%% sent), worker-N.trace (the second after)\n", c.profile, c.profileSecs)
	}
	if c.recheck {
		again, err := env.again(ctx, procs)
		if err != nil {
			return err
		}
		again.print("again, nothing changed", env)
	}
	return nil
}

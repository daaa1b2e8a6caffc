// Command benchexport measures the Braze export end to end: a backfill of
// many audience members by real `brazesync worker` processes (and a
// `brazesync scheduler`) against the Braze simulator, served by this
// program with the rate limit given.
//
// It prints the users per second achieved and their ratio to the limit's
// ceiling (requests per second x 75 users), the share of requests answered
// 429, the data points spent, the CPU seconds of brazesync's processes per
// 100,000 users, and then the cost of running the same export again with
// nothing changed (zero data points expected).
//
//	go run ./cmd/benchexport                                  # 1,000,000 users, 300 requests / 3 s
//	go run ./cmd/benchexport -users 1000000 -limit 3000       # Braze's real limit
//	go run ./cmd/benchexport -users 50000 -limit 300          # a quick run
//
// It needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0) and leases a
// database 1..15 like the tests do, so it never shares one with a test run.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
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
		if c.bin, err = buildBinary(dir); err != nil {
			return err
		}
		fmt.Printf("built brazesync in %s\n", time.Since(start).Round(time.Millisecond))
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env, err := newEnv(ctx, c, key)
	if err != nil {
		return err
	}
	defer env.close()
	fmt.Printf("Redis %s, simulator %s limited to %d requests per %s (ceiling %.0f users/s)\n",
		env.url, env.simURL, c.limit, c.window, env.ceiling())

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
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	p, err := startProc(c.bin, dir, "scheduler", "scheduler", procEnv)
	if err != nil {
		return err
	}
	procs = append(procs, p)
	for i := range c.workers {
		p, err := startProc(c.bin, dir, fmt.Sprintf("worker-%d", i+1), "worker", procEnv)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}

	first, err := env.backfill(ctx, procs)
	if err != nil {
		return err
	}
	first.print("backfill", env)
	if c.recheck {
		again, err := env.again(ctx, procs)
		if err != nil {
			return err
		}
		again.print("again, nothing changed", env)
	}
	return nil
}

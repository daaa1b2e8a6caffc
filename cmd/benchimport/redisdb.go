package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// redisTarget is the benchmark's Redis database.
type redisTarget struct {
	URL  string
	Opts *redis.Options
}

func parseRedis(raw string) (redisTarget, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return redisTarget{}, fmt.Errorf("parsing -redis %q: %w", raw, err)
	}
	if opt.DB == 0 {
		return redisTarget{}, fmt.Errorf("-redis %q: give a database other than 0 (it is flushed), e.g. redis://127.0.0.1:6379/14", raw)
	}
	return redisTarget{URL: raw, Opts: opt}, nil
}

// cliArgs are redis-cli's connection arguments for the database.
func (r redisTarget) cliArgs() []string {
	host, port, err := net.SplitHostPort(r.Opts.Addr)
	if err != nil {
		host, port = r.Opts.Addr, "6379"
	}
	args := []string{"-h", host, "-p", port, "-n", strconv.Itoa(r.Opts.DB)}
	if r.Opts.Password != "" {
		args = append(args, "--no-auth-warning", "-a", r.Opts.Password)
	}
	return args
}

// leaseKey is internal/testutil/redistest's lease of a database: holding it
// keeps parallel test binaries (redistest.DB) off the benchmark's database.
func leaseKey(db int) string { return "redistest:lease:" + strconv.Itoa(db) }

const leaseTTL = 10 * time.Minute

// lease takes the database's redistest lease (waiting up to five minutes
// while a test holds it), flushes the database, and returns a release
// function that flushes it again and gives the lease back. The lease is
// renewed while held.
func (r redisTarget) lease(ctx context.Context) (*redis.Client, func(), error) {
	ctrlOpt := *r.Opts
	ctrlOpt.DB = 0
	ctrl := redis.NewClient(&ctrlOpt)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	owner := "benchimport-" + hex.EncodeToString(b)
	key := leaseKey(r.Opts.DB)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ok, err := ctrl.SetNX(ctx, key, owner, leaseTTL).Result()
		if err != nil {
			_ = ctrl.Close()
			return nil, nil, fmt.Errorf("leasing database %d at %s: %w", r.Opts.DB, r.Opts.Addr, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			_ = ctrl.Close()
			return nil, nil, fmt.Errorf("database %d at %s stayed leased by a test for 5 minutes; choose another with -redis", r.Opts.DB, r.Opts.Addr)
		}
		time.Sleep(200 * time.Millisecond) // waiting for a test binary to release its lease
	}
	rdb := redis.NewClient(r.Opts)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(leaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctrl.Expire(ctx, key, leaseTTL)
			}
		}
	}()
	release := func() {
		ctx := context.WithoutCancel(ctx) // also after Ctrl-C
		close(stop)
		<-renewed
		_ = rdb.FlushDB(ctx).Err()
		_ = rdb.Close()
		if v, _ := ctrl.Get(ctx, key).Result(); v == owner {
			ctrl.Del(ctx, key)
		}
		_ = ctrl.Close()
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		release()
		return nil, nil, fmt.Errorf("flushing database %d: %w", r.Opts.DB, err)
	}
	return rdb, release, nil
}

// serverCPU returns the Redis server's CPU time so far (INFO cpu).
func serverCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	s, err := redisserver.CPU(ctx, rdb)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchimport:", err) // the figure is left at zero
	}
	return time.Duration(s * float64(time.Second))
}

// commandStats is INFO commandstats (redisserver.CommandStats); when it
// cannot be read, that is reported and the figures are left out.
func commandStats(ctx context.Context, rdb *redis.Client) map[string]redisserver.CommandStat {
	st, err := redisserver.CommandStats(ctx, rdb)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchimport:", err)
	}
	return st
}

// usedMemory is INFO memory's used_memory in bytes (0 when unknown).
func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	return int64(infoNumbers(ctx, rdb, "memory")["used_memory"])
}

// infoNumbers reads one section of INFO as numbers (empty when Redis does
// not answer).
func infoNumbers(ctx context.Context, rdb *redis.Client, section string) map[string]float64 {
	out := map[string]float64{}
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				out[k] = f
			}
		}
	}
	return out
}

// startPrivateRedis starts a redis-server of its own (redisserver.Start)
// and returns the URL of its database 14 and a function that stops it.
func startPrivateRedis(ctx context.Context, dir string) (string, func(), error) {
	addr, stop, err := redisserver.Start(ctx, dir)
	if err != nil {
		return "", nil, err
	}
	return "redis://" + addr + "/14", stop, nil
}

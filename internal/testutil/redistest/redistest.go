// Package redistest hands tests an isolated piece of a real Redis server.
//
// Tests talk to the Redis at REDIS_URL (default redis://127.0.0.1:6379/0).
// Namespace gives a test its own key prefix, which is enough for anything
// keyed by keyspace.Namespace. DB leases a whole Redis database for tests that
// run Asynq servers or schedulers, whose keys are global; leases are held in
// Redis itself so that parallel test binaries never share a database.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/redislock"
	"github.com/redis/go-redis/v9"
)

// URL is the Redis the tests use.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func options(t testing.TB) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: parsing REDIS_URL: %v", err)
	}
	return opt
}

// RandomID returns a short random hex string for unique names in tests.
func RandomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Client returns a client for the test Redis database 0 and a fresh namespace.
// Every key of the namespace is deleted when the test ends.
func Client(t testing.TB) (*redis.Client, keyspace.Namespace) {
	t.Helper()
	rdb := redis.NewClient(options(t))
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis at %s does not answer: %v", URL(), err)
	}
	ns := keyspace.Namespace("t" + RandomID())
	t.Cleanup(func() {
		// A client of its own: the test may have closed rdb.
		c := redis.NewClient(options(t))
		defer closeClient(t, c)
		iter := c.Scan(ctx, 0, string(ns)+":*", 1000).Iterator()
		var keys []string
		unlink := func() {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("redistest: deleting the keys of namespace %s: %v", ns, err)
			}
			keys = keys[:0]
		}
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				unlink()
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("redistest: listing the keys of namespace %s: %v", ns, err)
		}
		if len(keys) > 0 {
			unlink()
		}
		closeClient(t, rdb)
	})
	return rdb, ns
}

const leaseTTL = 10 * time.Minute

// closeClient closes c, which the test may already have closed.
func closeClient(t testing.TB, c *redis.Client) {
	if err := c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		t.Errorf("redistest: closing a client: %v", err)
	}
}

// DB leases a whole Redis database (1..15), flushes it, and returns a client
// for it together with its URL (for child processes). The lease is released
// and the database flushed when the test ends. DB waits while every database
// is leased.
func DB(t testing.TB) (*redis.Client, string) {
	t.Helper()
	base := options(t)
	ctrl := redis.NewClient(base)
	ctx := context.Background()
	owner := RandomID()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			key := "redistest:lease:" + strconv.Itoa(n)
			ok, err := ctrl.SetNX(ctx, key, owner, leaseTTL).Result()
			if err != nil {
				t.Fatalf("redistest: leasing a database: %v", err)
			}
			if !ok {
				continue
			}
			opt := *base
			opt.DB = n
			rdb := redis.NewClient(&opt)
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("redistest: flushing db %d: %v", n, err)
			}
			t.Cleanup(func() {
				c := redis.NewClient(&opt) // the test may have closed rdb
				if err := c.FlushDB(ctx).Err(); err != nil {
					t.Errorf("redistest: flushing db %d at the end of the test: %v", n, err)
				}
				closeClient(t, c)
				closeClient(t, rdb)
				if _, err := redislock.Release(ctx, ctrl, key, owner); err != nil {
					t.Errorf("redistest: releasing the lease of db %d (it expires in %v): %v", n, leaseTTL, err)
				}
				closeClient(t, ctrl)
			})
			u := fmt.Sprintf("redis://%s/%d", opt.Addr, n)
			if opt.Password != "" {
				u = fmt.Sprintf("redis://:%s@%s/%d", opt.Password, opt.Addr, n)
			}
			return rdb, u
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no free Redis database after 5 minutes")
		}
		time.Sleep(100 * time.Millisecond) // waiting for another test binary to release a lease
	}
}

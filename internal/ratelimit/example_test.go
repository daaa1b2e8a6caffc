package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/redis/go-redis/v9"
)

// A worker asks before each Braze request and feeds the response headers
// back. When Reserve says wait, the task reschedules itself (or sleeps)
// instead of spinning.
func ExampleLimiter_Reserve() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer func() { _ = rdb.Close() }()
	lim := ratelimit.New(rdb, keyspace.DefaultNamespace)
	ctx := context.Background()
	limit, _ := ratelimit.ParseLimit("3000/3s") // the authorization's rate_limit

	wait, err := lim.Reserve(ctx, "acct-1234", "auth-1", limit)
	if err != nil {
		return // Redis is down: retry the task later
	}
	if wait > 0 {
		fmt.Println("not now, retry in", wait) // e.g. return a rate-limit error carrying wait
		return
	}
	// ... send the request; then, from the response's x-ratelimit-* headers:
	remaining, reset := 2500, time.Now().Add(2*time.Second)
	_ = lim.Observe(ctx, "acct-1234", "auth-1", limit, remaining, reset)
}

// Package ratelimit paces requests to Braze per workspace, shared by every
// worker process through Redis.
//
// The limiter is a GCRA from github.com/go-redis/redis_rate/v10 keyed by
// account and Braze authorization, plus a "blocked until" key that Braze's
// X-RateLimit-* response headers set through Observe. Callers ask Reserve
// before each request; a non-zero wait means "not now, try again after wait"
// and consumes nothing, so a task can sleep or reschedule itself instead of
// spinning.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// minWait is the smallest wait Reserve reports, so that a caller never gets
// a zero-length "wait" that it could mistake for permission.
const minWait = time.Millisecond

// maxBlock bounds how far in the future Observe accepts a reset time, so that
// a bogus header cannot stop an authorization for days. Braze's longest
// documented window is an hour.
const maxBlock = 2 * time.Hour

// Limiter paces requests per (account, authorization). It is safe for
// concurrent use; any number of Limiters on the same Redis and namespace share
// their limits.
type Limiter struct {
	rdb  redis.UniversalClient
	ns   keyspace.Namespace
	gcra *redis_rate.Limiter
	now  func() time.Time
}

// New returns a Limiter storing its state in rdb under namespace ns.
func New(rdb redis.UniversalClient, ns keyspace.Namespace) *Limiter {
	return &Limiter{
		rdb:  rdb,
		ns:   ns,
		gcra: redis_rate.NewLimiter(keyRewriter{rdb: rdb}),
		now:  time.Now,
	}
}

func gcraLimit(l Limit) redis_rate.Limit {
	budget := l.Budget()
	return redis_rate.Limit{
		Rate:   max(1, budget-l.Burst),
		Burst:  l.Burst,
		Period: l.Per,
	}
}

func prepare(limit Limit) (Limit, error) {
	limit = limit.WithDefaults()
	if err := limit.Validate(); err != nil {
		return limit, err
	}
	return limit, nil
}

// Reserve asks for one request to Braze for authorization authID of account.
// When the request may go now it consumes one token and returns wait == 0.
// Otherwise it consumes nothing and returns how long to wait before asking
// again: until Braze's window resets if Observe saw it spent, else until the
// GCRA frees a token. A zero Limit means the Braze default (3,000 requests per
// 3 seconds, 90% used).
func (l *Limiter) Reserve(ctx context.Context, account, authID string, limit Limit) (time.Duration, error) {
	limit, err := prepare(limit)
	if err != nil {
		return 0, err
	}
	// PTTL is computed by the Redis server, like the GCRA's clock: every
	// process agrees on it whatever its own clock says.
	ttl, err := l.rdb.PTTL(ctx, blockedKey(l.ns, account, authID)).Result()
	if err != nil {
		return 0, fmt.Errorf("reading rate-limit block of %q/%q: %w", account, authID, err)
	}
	if ttl > 0 {
		return max(ttl, minWait), nil
	}
	res, err := l.gcra.Allow(ctx, gcraKey(l.ns, account, authID), gcraLimit(limit))
	if err != nil {
		return 0, fmt.Errorf("reserving a Braze request for %q/%q: %w", account, authID, err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, minWait), nil
}

// Wait calls Reserve until it grants a request, sleeping for each wait it
// returns (never spinning). It returns ctx's error if ctx ends first. Workers
// that would rather reschedule a task than hold a goroutine use Reserve.
func (l *Limiter) Wait(ctx context.Context, account, authID string, limit Limit) (waited time.Duration, err error) {
	for {
		wait, err := l.Reserve(ctx, account, authID, limit)
		if err != nil || wait == 0 {
			return waited, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return waited, ctx.Err()
		case <-t.C:
			waited += wait
		}
	}
}

// Observe corrects the limiter with the X-RateLimit-Remaining and
// X-RateLimit-Reset values of a Braze response (and on a 429, remaining 0
// and the reset the client parsed). When remaining is 0 it blocks the
// authorization until reset: Reserve then answers with the time left. When
// remaining is below what the GCRA would still let through at once, it drains
// the GCRA to match. A zero reset (no headers) or one in the past does
// nothing.
func (l *Limiter) Observe(ctx context.Context, account, authID string, limit Limit, remaining int, reset time.Time) error {
	limit, err := prepare(limit)
	if err != nil {
		return err
	}
	if reset.IsZero() {
		return nil
	}
	now := l.now()
	if !reset.After(now) {
		return nil
	}
	if remaining <= 0 {
		if reset.Sub(now) > maxBlock {
			reset = now.Add(maxBlock)
		}
		err := blockUntil.Run(ctx, l.rdb, []string{blockedKey(l.ns, account, authID)}, reset.UnixMilli()).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("blocking Braze requests of %q/%q until %s: %w", account, authID, reset.UTC().Format(time.RFC3339), err)
		}
		return nil
	}
	if remaining >= limit.Burst {
		// The GCRA never lets more than Burst through at once, so Braze's
		// count cannot be below ours: nothing to correct.
		return nil
	}
	key := gcraKey(l.ns, account, authID)
	gl := gcraLimit(limit)
	state, err := l.gcra.AllowN(ctx, key, gl, 0)
	if err != nil {
		return fmt.Errorf("reading rate-limit state of %q/%q: %w", account, authID, err)
	}
	if excess := state.Remaining - remaining; excess > 0 {
		if _, err := l.gcra.AllowAtMost(ctx, key, gl, excess); err != nil {
			return fmt.Errorf("draining rate limit of %q/%q to Braze's remaining %d: %w", account, authID, remaining, err)
		}
	}
	return nil
}

// Reset forgets the state of one authorization (its GCRA and any block).
func (l *Limiter) Reset(ctx context.Context, account, authID string) error {
	if err := l.rdb.Del(ctx, gcraKey(l.ns, account, authID), blockedKey(l.ns, account, authID)).Err(); err != nil {
		return fmt.Errorf("resetting rate limit of %q/%q: %w", account, authID, err)
	}
	return nil
}

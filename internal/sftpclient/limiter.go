package sftpclient

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Limiter defaults.
const (
	LimitDefault    = 4
	LeaseTTLDefault = 30 * time.Second
	maxPollInterval = time.Second
	minPollInterval = 20 * time.Millisecond
)

// LimiterConfig tunes a Limiter.
type LimiterConfig struct {
	// Limit is the most connections open at once to one authorization's
	// server, counted over every worker process. Default 4.
	Limit int
	// LeaseTTL is how long a lease outlives a process that died without
	// releasing it; live leases are renewed every LeaseTTL/3. Default 30s.
	LeaseTTL time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Limiter is a counting semaphore in Redis, one per (account,
// authorization), shared by every worker process.
type Limiter struct {
	rdb redis.UniversalClient
	ns  keyspace.Namespace
	cfg LimiterConfig
}

// NewLimiter returns a Limiter on rdb under ns.
func NewLimiter(rdb redis.UniversalClient, ns keyspace.Namespace, cfg LimiterConfig) *Limiter {
	if cfg.Limit <= 0 {
		cfg.Limit = LimitDefault
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = LeaseTTLDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{rdb: rdb, ns: ns, cfg: cfg}
}

// Lease is one held connection slot. It renews itself until Release.
type Lease struct {
	l    *Limiter
	key  string
	id   string
	stop chan struct{}
	done chan struct{}
	lost chan struct{}
	once sync.Once
}

// TryAcquire takes a slot if one is free, without waiting. When none is,
// it returns a nil Lease and how long until the earliest lease expires.
func (l *Limiter) TryAcquire(ctx context.Context, account, authorizationID string) (*Lease, time.Duration, error) {
	key := semaphoreKey(l.ns, account, authorizationID)
	id := newLeaseID()
	res, err := acquireScript.Run(ctx, l.rdb, []string{key}, id, l.cfg.LeaseTTL.Milliseconds(), l.cfg.Limit).Int64Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("acquiring sftp connection slot for %q: %w", authorizationID, err)
	}
	if res[0] != 1 {
		return nil, time.Duration(res[1]) * time.Millisecond, nil
	}
	lease := &Lease{l: l, key: key, id: id,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go lease.renew()
	return lease, 0, nil
}

// Acquire waits for a free slot (polling Redis with backoff, never faster
// than every 20ms) until ctx ends.
func (l *Limiter) Acquire(ctx context.Context, account, authorizationID string) (*Lease, error) {
	wait := minPollInterval
	for {
		lease, hint, err := l.TryAcquire(ctx, account, authorizationID)
		if err != nil || lease != nil {
			return lease, err
		}
		d := min(wait, hint, maxPollInterval)
		d = max(d, minPollInterval)
		d += time.Duration(rand.Int64N(int64(d)/4 + 1)) // jitter
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for an sftp connection slot for %q (limit %d): %w",
				authorizationID, l.cfg.Limit, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(wait*2, maxPollInterval)
	}
}

// InUse counts the live leases of an authorization.
func (l *Limiter) InUse(ctx context.Context, account, authorizationID string) (int, error) {
	key := semaphoreKey(l.ns, account, authorizationID)
	nowMs := time.Now().UnixMilli()
	n, err := l.rdb.ZCount(ctx, key, fmt.Sprint(nowMs), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("counting sftp connections for %q: %w", authorizationID, err)
	}
	return int(n), nil
}

// Dial takes a slot (waiting as Acquire does) and connects; closing the
// Client releases the slot.
func (l *Limiter) Dial(ctx context.Context, account, authorizationID string, cfg Config) (*Client, error) {
	lease, err := l.Acquire(ctx, account, authorizationID)
	if err != nil {
		return nil, err
	}
	c, err := Dial(ctx, cfg)
	if err != nil {
		lease.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	c.onClose = func() { lease.Release(context.Background()) }
	return c, nil
}

func (le *Lease) renew() {
	defer close(le.done)
	t := time.NewTicker(le.l.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-le.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), le.l.cfg.LeaseTTL/3)
			ok, err := renewScript.Run(ctx, le.l.rdb, []string{le.key}, le.id, le.l.cfg.LeaseTTL.Milliseconds()).Int()
			cancel()
			if err != nil {
				le.l.cfg.Logger.Warn("renewing sftp connection lease", "error", err.Error())
				continue // try again next tick; the lease may still be live
			}
			if ok == 0 {
				le.l.cfg.Logger.Warn("sftp connection lease expired before renewal")
				close(le.lost)
				return
			}
		}
	}
}

// Lost is closed when the lease expired without being renewed (Redis was
// unreachable for a whole LeaseTTL); the slot may then be taken by another.
func (le *Lease) Lost() <-chan struct{} { return le.lost }

// Release gives the slot back. It is idempotent.
func (le *Lease) Release(ctx context.Context) {
	le.once.Do(func() {
		close(le.stop)
		<-le.done
		if err := le.l.rdb.ZRem(ctx, le.key, le.id).Err(); err != nil && !errors.Is(err, redis.Nil) {
			le.l.cfg.Logger.Warn("releasing sftp connection lease; it expires by itself", "error", err.Error())
		}
	})
}

func newLeaseID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

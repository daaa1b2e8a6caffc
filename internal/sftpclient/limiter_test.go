package sftpclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"github.com/redis/go-redis/v9"
)

func TestLimiterCapsConnections(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	// Two limiters stand for two worker processes.
	a := NewLimiter(rdb, ns, LimiterConfig{Limit: 2})
	b := NewLimiter(rdb, ns, LimiterConfig{Limit: 2})
	ctx := context.Background()

	l1, _, err := a.TryAcquire(ctx, "acct", "auth1")
	if err != nil || l1 == nil {
		t.Fatalf("first lease: %v %v", l1, err)
	}
	l2, _, err := b.TryAcquire(ctx, "acct", "auth1")
	if err != nil || l2 == nil {
		t.Fatalf("second lease: %v %v", l2, err)
	}
	l3, wait, err := a.TryAcquire(ctx, "acct", "auth1")
	if err != nil || l3 != nil {
		t.Fatalf("third lease granted over limit 2: %v %v", l3, err)
	}
	if wait <= 0 || wait > LeaseTTLDefault {
		t.Fatalf("wait hint %s", wait)
	}
	if n, _ := a.InUse(ctx, "acct", "auth1"); n != 2 {
		t.Fatalf("InUse = %d, want 2", n)
	}
	// Another authorization has its own slots.
	other, _, err := a.TryAcquire(ctx, "acct", "auth2")
	if err != nil || other == nil {
		t.Fatalf("other authorization: %v %v", other, err)
	}
	defer other.Release(ctx)

	got := make(chan *Lease)
	go func() {
		l, err := b.Acquire(ctx, "acct", "auth1")
		if err != nil {
			t.Errorf("Acquire: %v", err)
		}
		got <- l
	}()
	select {
	case l := <-got:
		t.Fatalf("Acquire returned %v while the limit was reached", l)
	case <-time.After(100 * time.Millisecond): // it must still be waiting
	}
	l1.Release(ctx)
	l1.Release(ctx) // idempotent
	select {
	case l := <-got:
		if l == nil {
			t.Fatal("no lease after release")
		}
		l.Release(ctx)
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire did not get the released slot")
	}
	l2.Release(ctx)
	if n, _ := a.InUse(ctx, "acct", "auth1"); n != 0 {
		t.Fatalf("InUse after releases = %d", n)
	}
}

func TestLimiterAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	l := NewLimiter(rdb, ns, LimiterConfig{Limit: 1})
	ctx := context.Background()
	held, err := l.Acquire(ctx, "acct", "auth")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	wctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(wctx, "acct", "auth"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

func TestLimiterReclaimsDeadProcessLease(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	// A process that died holding the only slot: its lease is in Redis
	// with an expiry but nobody renews it.
	key := semaphoreKey(ns, "acct", "auth")
	if err := rdb.ZAdd(ctx, key, redisZ(time.Now().Add(300*time.Millisecond), "dead")).Err(); err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(rdb, ns, LimiterConfig{Limit: 1})
	if lease, _, _ := l.TryAcquire(ctx, "acct", "auth"); lease != nil {
		t.Fatal("slot granted while the dead lease is still valid")
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := l.Acquire(actx, "acct", "auth")
	if err != nil {
		t.Fatalf("Acquire after the dead lease expired: %v", err)
	}
	lease.Release(ctx)
}

func TestLimiterRenewsLiveLease(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	l := NewLimiter(rdb, ns, LimiterConfig{Limit: 1, LeaseTTL: 300 * time.Millisecond})
	lease, err := l.Acquire(ctx, "acct", "auth")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	// Poll past several TTLs: the renewed lease must keep the slot.
	deadline := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if other, _, _ := l.TryAcquire(ctx, "acct", "auth"); other != nil {
			other.Release(ctx)
			t.Fatal("slot granted while a live lease holds it")
		}
		select {
		case <-lease.Lost():
			t.Fatal("live lease lost")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestLimiterDialReleasesOnClose(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	l := NewLimiter(rdb, ns, LimiterConfig{Limit: 1})
	ctx := context.Background()
	c, err := l.Dial(ctx, "acct", "auth", baseConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l.InUse(ctx, "acct", "auth"); n != 1 {
		t.Fatalf("InUse while connected = %d", n)
	}
	_ = c.Close()
	if n, _ := l.InUse(ctx, "acct", "auth"); n != 0 {
		t.Fatalf("InUse after Close = %d", n)
	}
	// A failed dial gives its slot back too.
	bad := baseConfig(s)
	bad.PrivateKey = otherKeyPEM(t, "")
	if _, err := l.Dial(ctx, "acct", "auth", bad); !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
	if n, _ := l.InUse(ctx, "acct", "auth"); n != 0 {
		t.Fatalf("InUse after failed dial = %d", n)
	}
}

func BenchmarkLimiterAcquireRelease(b *testing.B) {
	rdb, ns := redistest.Client(b)
	l := NewLimiter(rdb, ns, LimiterConfig{Limit: 4})
	ctx := context.Background()
	for b.Loop() {
		lease, _, err := l.TryAcquire(ctx, "acct", "auth")
		if err != nil || lease == nil {
			b.Fatal(err)
		}
		lease.Release(ctx)
	}
}

func redisZ(expiry time.Time, member string) redis.Z {
	return redis.Z{Score: float64(expiry.UnixMilli()), Member: member}
}

package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type bundle struct {
	rdb  *redis.Client
	acct string
	auth string
}

func setup(t *testing.T) (*Limiter, *bundle) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	return New(rdb, ns), &bundle{rdb: rdb, acct: "acct-" + redistest.RandomID(), auth: "auth-1"}
}

// slow is a limit whose GCRA frees a token only every 10 seconds after a
// burst of 3, so a test sees the burst and then a wait.
var slow = Limit{Requests: 13, Per: 100 * time.Second, Headroom: 1, Burst: 3}

func TestReserveAllowsBurstThenWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	for i := range 3 {
		wait, err := l.Reserve(ctx, b.acct, b.auth, slow)
		if err != nil || wait != 0 {
			t.Fatalf("request %d: wait %v err %v, want allowed", i, wait, err)
		}
	}
	wait, err := l.Reserve(ctx, b.acct, b.auth, slow)
	if err != nil {
		t.Fatal(err)
	}
	// Emission interval is 100s/(13-3) = 10s.
	if wait <= 9*time.Second || wait > 10*time.Second {
		t.Fatalf("wait = %v, want about 10s", wait)
	}
}

func TestReserveDeniedDoesNotConsume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	for range 3 {
		if _, err := l.Reserve(ctx, b.acct, b.auth, slow); err != nil {
			t.Fatal(err)
		}
	}
	prev := time.Duration(1 << 62)
	for i := range 20 {
		wait, err := l.Reserve(ctx, b.acct, b.auth, slow)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			t.Fatalf("denied request %d was allowed", i)
		}
		// Had a denied call consumed a token, the next wait would be about
		// 10s longer.
		if wait > prev {
			t.Fatalf("wait grew from %v to %v: a denied Reserve consumed a token", prev, wait)
		}
		prev = wait
	}
}

func TestReserveKeysAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	for range 4 {
		if _, err := l.Reserve(ctx, b.acct, b.auth, slow); err != nil {
			t.Fatal(err)
		}
	}
	for _, who := range [][2]string{{b.acct, "auth-2"}, {b.acct + "-other", b.auth}} {
		wait, err := l.Reserve(ctx, who[0], who[1], slow)
		if err != nil || wait != 0 {
			t.Fatalf("%v: wait %v err %v; another authorization's use leaked in", who, wait, err)
		}
	}
}

func TestTwoLimitersShareOneLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, ns := redistest.Client(t)
	// A second client stands for a second worker process.
	rdb2 := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = rdb2.Close() })
	l1, l2 := New(rdb, ns), New(rdb2, ns)
	acct := "acct-" + redistest.RandomID()

	limit := Limit{Requests: 40, Per: time.Hour, Headroom: 1, Burst: 20}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, l := range []*Limiter{l1, l2} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					wait, err := l.Reserve(ctx, acct, "auth", limit)
					if err != nil {
						t.Error(err)
						return
					}
					if wait == 0 {
						allowed.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	// 80 attempts, burst 20; the hour-long period frees no other token.
	if got := allowed.Load(); got != 20 {
		t.Fatalf("allowed %d requests across two limiters, want exactly the burst of 20", got)
	}
}

func TestWaitingTheReturnedDurationIsEnough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	// 20 per 2s with burst 2: a token every 2s/18 ≈ 111ms, far longer than
	// a Reserve takes even on a loaded machine.
	limit := Limit{Requests: 20, Per: 2 * time.Second, Headroom: 1, Burst: 2}
	waits := 0
	for range 8 {
		wait, err := l.Reserve(ctx, b.acct, b.auth, limit)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			continue
		}
		waits++
		time.Sleep(wait) // the behaviour under test: waiting what Reserve said
		again, err := l.Reserve(ctx, b.acct, b.auth, limit)
		if err != nil {
			t.Fatal(err)
		}
		if again > minWait {
			t.Fatalf("after waiting %v, Reserve still says wait %v", wait, again)
		}
	}
	if waits == 0 {
		t.Fatal("8 back-to-back requests never had to wait with a burst of 2")
	}
}

func TestWaitPaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	limit := Limit{Requests: 20, Per: 200 * time.Millisecond, Headroom: 1, Burst: 2}
	start := time.Now()
	for range 20 {
		if _, err := l.Wait(ctx, b.acct, b.auth, limit); err != nil {
			t.Fatal(err)
		}
	}
	// After the burst of 2, 18 requests at one per ≈11ms.
	if took := time.Since(start); took < 180*time.Millisecond {
		t.Fatalf("20 requests took %v, want at least ≈190ms of pacing", took)
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	t.Parallel()
	l, b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for range 3 {
		if _, err := l.Reserve(ctx, b.acct, b.auth, slow); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Wait(ctx, b.acct, b.auth, slow); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait err = %v, want context.DeadlineExceeded", err)
	}
}

func TestObserveZeroRemainingBlocksUntilReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	reset := time.Now().Add(2 * time.Second)
	if err := l.Observe(ctx, b.acct, b.auth, Limit{}, 0, reset); err != nil {
		t.Fatal(err)
	}
	wait, err := l.Reserve(ctx, b.acct, b.auth, Limit{})
	if err != nil {
		t.Fatal(err)
	}
	if wait < time.Second || wait > 2*time.Second {
		t.Fatalf("wait = %v, want the ≈2s until reset", wait)
	}
	// A stale response with an earlier reset must not shorten the block.
	if err := l.Observe(ctx, b.acct, b.auth, Limit{}, 0, time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	wait2, err := l.Reserve(ctx, b.acct, b.auth, Limit{})
	if err != nil {
		t.Fatal(err)
	}
	if wait2 < time.Second {
		t.Fatalf("an earlier reset shortened the block to %v", wait2)
	}
	// The block is released when Braze's window resets.
	if err := l.Reset(ctx, b.acct, b.auth); err != nil {
		t.Fatal(err)
	}
	if wait, _ := l.Reserve(ctx, b.acct, b.auth, Limit{}); wait != 0 {
		t.Fatalf("after Reset wait = %v, want 0", wait)
	}
}

func TestObserveBlockExpiresAtReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	reset := time.Now().Add(150 * time.Millisecond)
	if err := l.Observe(ctx, b.acct, b.auth, Limit{}, 0, reset); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	waited, err := l.Wait(ctx, b.acct, b.auth, Limit{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait must have waited for the block, unless this machine was so slow
	// that the block had already ended when Wait began.
	if (waited == 0 && before.Before(reset.Add(-5*time.Millisecond))) || waited > time.Second {
		t.Fatalf("waited %v for a block ending in 150ms", waited)
	}
	if time.Now().Before(reset.Add(-10 * time.Millisecond)) {
		t.Fatalf("Wait returned at %v, before the reset at %v", time.Now(), reset)
	}
}

func TestObserveIgnoresMissingOrPastReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	for _, reset := range []time.Time{{}, time.Now().Add(-time.Second)} {
		if err := l.Observe(ctx, b.acct, b.auth, Limit{}, 0, reset); err != nil {
			t.Fatal(err)
		}
		if wait, err := l.Reserve(ctx, b.acct, b.auth, Limit{}); err != nil || wait != 0 {
			t.Fatalf("reset %v: wait %v err %v, want no block", reset, wait, err)
		}
	}
}

func TestObserveCapsFarReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	if err := l.Observe(ctx, b.acct, b.auth, Limit{}, 0, time.Now().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wait, err := l.Reserve(ctx, b.acct, b.auth, Limit{})
	if err != nil {
		t.Fatal(err)
	}
	if wait > maxBlock || wait < maxBlock-time.Minute {
		t.Fatalf("wait = %v, want capped at %v", wait, maxBlock)
	}
}

func TestObserveLowRemainingDrainsBurst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, b := setup(t)
	limit := Limit{Requests: 20, Per: time.Hour, Headroom: 1, Burst: 10}
	// Braze says only 2 requests are left (another client used the rest).
	if err := l.Observe(ctx, b.acct, b.auth, limit, 2, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for range 10 {
		wait, err := l.Reserve(ctx, b.acct, b.auth, limit)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("allowed %d after Braze reported 2 remaining, want 2", allowed)
	}
}

func TestKeysLiveUnderNamespace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, ns := redistest.Client(t)
	l := New(rdb, ns)
	if _, err := l.Reserve(ctx, "acct-x", "auth", slow); err != nil {
		t.Fatal(err)
	}
	n, err := rdb.Exists(ctx, ns.Account("acct-x", "ratelimit", "auth", "gcra")).Result()
	if err != nil || n != 1 {
		t.Fatalf("GCRA key not under the namespace: exists=%d err=%v", n, err)
	}
}

func TestReserveRejectsInvalidLimit(t *testing.T) {
	t.Parallel()
	l, b := setup(t)
	if _, err := l.Reserve(context.Background(), b.acct, b.auth, Limit{Headroom: 1.5}); err == nil {
		t.Fatal("headroom 1.5 accepted")
	}
}

func BenchmarkReserve(b *testing.B) {
	rdb, ns := redistest.Client(b)
	l := New(rdb, ns)
	ctx := context.Background()
	limit := Limit{Requests: 1 << 30, Per: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Reserve(ctx, "bench", "auth", limit); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkObserveBlock measures the blockUntil script (remaining 0).
func BenchmarkObserveBlock(b *testing.B) {
	rdb, ns := redistest.Client(b)
	l := New(rdb, ns)
	ctx := context.Background()
	reset := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Observe(ctx, "bench", "auth", Limit{}, 0, reset); err != nil {
			b.Fatal(err)
		}
	}
}

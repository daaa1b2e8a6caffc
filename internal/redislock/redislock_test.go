package redislock_test

import (
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/redislock"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

func TestAcquireIsExclusiveAndReentrant(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := t.Context()
	key := ns.Global("lock")
	a, b := redislock.NewToken(), redislock.NewToken()
	if a == b {
		t.Fatalf("two tokens are equal: %q", a)
	}
	for i, c := range []struct {
		token string
		want  bool
	}{{a, true}, {b, false}, {a, true}} {
		got, err := redislock.Acquire(ctx, rdb, key, c.token, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Fatalf("step %d: Acquire = %v, want %v", i, got, c.want)
		}
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the lock's time to live is %v, want (0, 1m]", ttl)
	}
}

func TestRenewOnlyByHolder(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := t.Context()
	key := ns.Global("lock")
	a, b := redislock.NewToken(), redislock.NewToken()
	if ok, err := redislock.Renew(ctx, rdb, key, a, time.Minute); err != nil || ok {
		t.Fatalf("Renew of a free key = %v, %v; want false, nil", ok, err)
	}
	if _, err := redislock.Acquire(ctx, rdb, key, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, err := redislock.Renew(ctx, rdb, key, b, time.Hour); err != nil || ok {
		t.Fatalf("Renew by another token = %v, %v; want false, nil", ok, err)
	}
	if ok, err := redislock.Renew(ctx, rdb, key, a, time.Hour); err != nil || !ok {
		t.Fatalf("Renew by the holder = %v, %v; want true, nil", ok, err)
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= time.Minute {
		t.Fatalf("the renewed lock's time to live is %v, want about 1h", ttl)
	}
}

func TestReleaseOnlyByHolderWithItsKeys(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := t.Context()
	key, holder := ns.Account("a", "lock"), ns.Account("a", "lock", "holder")
	a, b := redislock.NewToken(), redislock.NewToken()
	if _, err := redislock.Acquire(ctx, rdb, key, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, holder, "me", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := redislock.Release(ctx, rdb, key, b, holder); err != nil || ok {
		t.Fatalf("Release by another token = %v, %v; want false, nil", ok, err)
	}
	if n, err := rdb.Exists(ctx, key, holder).Result(); err != nil || n != 2 {
		t.Fatalf("after a foreign Release, %d of 2 keys exist (err %v)", n, err)
	}
	if ok, err := redislock.Release(ctx, rdb, key, a, holder); err != nil || !ok {
		t.Fatalf("Release by the holder = %v, %v; want true, nil", ok, err)
	}
	if n, err := rdb.Exists(ctx, key, holder).Result(); err != nil || n != 0 {
		t.Fatalf("after Release, %d keys remain (err %v)", n, err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	key := ns.Global("lock")
	if err := rdb.Close(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Acquire": func() error { _, err := redislock.Acquire(t.Context(), rdb, key, "t", time.Second); return err },
		"Renew":   func() error { _, err := redislock.Renew(t.Context(), rdb, key, "t", time.Second); return err },
		"Release": func() error { _, err := redislock.Release(t.Context(), rdb, key, "t"); return err },
	} {
		err := f()
		if err == nil {
			t.Fatalf("%s on a closed client: no error", name)
		}
		if got := err.Error(); !strings.Contains(got, key) {
			t.Fatalf("%s error %q does not name the key %q", name, got, key)
		}
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	rdb, ns := redistest.Client(b)
	key := ns.Global("lock")
	token := redislock.NewToken()
	ctx := b.Context()
	for b.Loop() {
		if _, err := redislock.Acquire(ctx, rdb, key, token, time.Minute); err != nil {
			b.Fatal(err)
		}
		if _, err := redislock.Release(ctx, rdb, key, token); err != nil {
			b.Fatal(err)
		}
	}
}

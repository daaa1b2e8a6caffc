package ingest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// holdPipelines is a go-redis hook that counts the pipelines that queue
// (those with an XADD; go-redis sends its own on new connections) and holds
// the first ones until release is closed.
type holdPipelines struct {
	hold      int64
	release   chan struct{}
	pipelines atomic.Int64
	held      atomic.Int64
}

func (h *holdPipelines) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *holdPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *holdPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "xadd" {
			return next(ctx, cmds)
		}
		if h.pipelines.Add(1) <= h.hold {
			h.held.Add(1)
			<-h.release
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*holdPipelines)(nil)

// heldBatcher returns a batcher on its own key prefix whose first
// maxFlights pipelines wait until hook.release is closed.
func heldBatcher(t *testing.T) (*batcher, *holdPipelines, *redis.Client, keys) {
	rdb, ns := redistest.Client(t)
	hook := &holdPipelines{hold: maxFlights, release: make(chan struct{})}
	rdb.AddHook(hook)
	k := keys{ns: ns}
	return &batcher{rdb: rdb, active: k.active()}, hook, rdb, k
}

// waitHeld waits until the held flights are in and n writes wait behind
// them.
func waitHeld(t *testing.T, b *batcher, hook *holdPipelines, n int) {
	t.Helper()
	poll.Until(t, 10*time.Second, "writes waiting behind the held flights", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return hook.held.Load() == maxFlights && len(b.waiting) == n
	})
}

// TestBatcherGroupsWaitingWrites holds the first pipelines in flight while
// more writes arrive, and checks that the waiting writes go out together
// (in batches of at most maxBatch), each answered with its own result, and
// every account marked active.
func TestBatcherGroupsWaitingWrites(t *testing.T) {
	t.Parallel()
	b, hook, rdb, k := heldBatcher(t)

	const writes = maxFlights + maxBatch + 10
	accounts := []string{"a", "b", "c"}
	ws := make([]*queueWrite, writes)
	var wg sync.WaitGroup
	for i := range ws {
		acct := accounts[i%len(accounts)]
		ws[i] = &queueWrite{account: acct, key: k.queue(acct), values: []any{"i", i}, size: 1, readLength: i%2 == 0}
		wg.Go(func() { b.write(context.Background(), ws[i]) })
	}
	waitHeld(t, b, hook, writes-maxFlights)
	close(hook.release)
	wg.Wait()

	// The held flights, then maxBatch waiting writes, then the last 10.
	if got, want := hook.pipelines.Load(), int64(maxFlights+2); got != want {
		t.Errorf("%d pipelines for %d writes, want %d", got, writes, want)
	}
	for i, w := range ws {
		if w.addErr != nil || w.activeErr != nil {
			t.Fatalf("write %d: %v, %v", i, w.addErr, w.activeErr)
		}
		if w.readLength && w.length < 1 {
			t.Errorf("write %d asked for the length and got %d", i, w.length)
		}
		if !w.readLength && w.length != -1 {
			t.Errorf("write %d did not ask for the length and got %d", i, w.length)
		}
	}
	ctx := context.Background()
	total := int64(0)
	for _, acct := range accounts {
		n, err := rdb.XLen(ctx, k.queue(acct)).Result()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != writes {
		t.Errorf("%d entries queued, want %d", total, writes)
	}
	active, err := rdb.SMembers(ctx, k.active()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != len(accounts) {
		t.Errorf("active accounts %v, want %v", active, accounts)
	}
}

// TestBatcherLeaderCancelled checks that a leader whose request is
// cancelled still stores the writes that share its pipeline.
func TestBatcherLeaderCancelled(t *testing.T) {
	t.Parallel()
	b, hook, rdb, k := heldBatcher(t)

	ctx, cancel := context.WithCancel(context.Background())
	ws := make([]*queueWrite, maxFlights+3)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &queueWrite{account: "a", key: k.queue("a"), values: []any{"i", i}, size: 1}
		wg.Go(func() { b.write(ctx, ws[i]) })
	}
	waitHeld(t, b, hook, len(ws)-maxFlights)
	cancel()
	close(hook.release)
	wg.Wait()
	for i, w := range ws {
		if w.addErr != nil {
			t.Errorf("write %d: %v", i, w.addErr)
		}
	}
	if n := rdb.XLen(context.Background(), k.queue("a")).Val(); n != int64(len(ws)) {
		t.Errorf("%d entries queued, want %d", n, len(ws))
	}
}

// TestBatcherRedisDown checks that every write of a failed pipeline gets
// the error.
func TestBatcherRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	b := &batcher{rdb: rdb, active: "active"}
	var wg sync.WaitGroup
	ws := make([]*queueWrite, 20)
	for i := range ws {
		ws[i] = &queueWrite{account: fmt.Sprint(i), key: "q", values: []any{"i", i}, size: 1}
		wg.Go(func() { b.write(context.Background(), ws[i]) })
	}
	wg.Wait()
	for i, w := range ws {
		if w.addErr == nil || w.activeErr == nil {
			t.Errorf("write %d: no error with Redis down (%v, %v)", i, w.addErr, w.activeErr)
		}
	}
}

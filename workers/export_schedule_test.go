package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/scheduler"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// within polls cond until it holds or d has passed since start.
func within(t *testing.T, start time.Time, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s did not happen within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

// TestExportJobChangesTakeEffectWithin5Seconds runs the scheduler at its
// production tick (1 s) and checks that creating, changing, pausing,
// resuming and deleting an export job each take effect in Braze within 5
// seconds of the call (the API's calls: the store, then the engine's hook).
func TestExportJobChangesTakeEffectWithin5Seconds(t *testing.T) {
	t.Parallel()
	b := setupExportTick(t, brazesim.Options{}, time.Second)
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.audience(t, "vip", `{"field":"tier","op":"eq","value":"gold"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR", "tier": "gold"}, map[string]any{"braze_id": "u2", "country": "FR"})
	auth := b.brazeAuth(t, "k", nil)

	start := time.Now()
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true, "flush_users": 1.0})
	within(t, start, 5*time.Second, "a new job's backfill in Braze", func() bool {
		return segmentsEqual(b, map[string][]string{"u1": {"fr"}, "u2": {"fr"}})
	})

	start = time.Now()
	before, _ := b.jobs.Get(ctx, b.acct, j.ID)
	after, err := b.jobs.Update(ctx, b.acct, j.ID, jobs.Input{Config: map[string]any{"audiences": list("fr", "vip"), "existing_users": true, "flush_users": 1.0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, before, after); err != nil {
		t.Fatal(err)
	}
	within(t, start, 5*time.Second, "an added audience in Braze", func() bool {
		return segmentsEqual(b, map[string][]string{"u1": {"fr", "vip"}, "u2": {"fr"}})
	})

	if _, err := b.jobs.Pause(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	b.upsert(t, map[string]any{"braze_id": "u2", "tier": "gold"})
	time.Sleep(2 * time.Second) // two scheduler ticks in which a paused job must send nothing
	if got, _ := b.segments("u2"); len(got) != 1 {
		t.Fatalf("a paused job sent %v", got)
	}
	start = time.Now()
	if _, err := b.jobs.Resume(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	within(t, start, 5*time.Second, "a resumed job's waiting change in Braze", func() bool {
		return segmentsEqual(b, map[string][]string{"u2": {"fr", "vip"}})
	})

	start = time.Now()
	cur, _ := b.jobs.Get(ctx, b.acct, j.ID)
	del, err := b.jobs.Delete(ctx, b.acct, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, cur, del); err != nil {
		t.Fatal(err)
	}
	within(t, start, 5*time.Second, "a deleted job's work gone from the pump", func() bool {
		work, err := b.engine.Due(ctx)
		return err == nil && len(work) == 0
	})
	sent := b.sim.Stats().Requests
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "DE"})
	time.Sleep(2 * time.Second) // two scheduler ticks in which a deleted job must send nothing
	if n := b.sim.Stats().Requests; n != sent {
		t.Fatalf("a deleted job sent %d requests", n-sent)
	}
}

// TestExportTwoSchedulersEnqueueOnce runs two schedulers over export jobs
// without workers: each due occurrence of a scheduled export job becomes one
// job run, and two pumps asking at once enqueue each sender, feed and
// backfill task of a busy job once.
func TestExportTwoSchedulersEnqueueOnce(t *testing.T) {
	t.Parallel()
	b := setupStores(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	recs := make([]map[string]any, 300)
	for i := range recs {
		recs[i] = map[string]any{"braze_id": fmt.Sprintf("u%03d", i), "country": "FR"}
	}
	b.upsert(t, recs...)
	auth := b.brazeAuth(t, "k", nil)
	label, every := "scheduled", "@every 1m"
	clk := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC)}
	js := jobs.New(b.rdb, "bs", b.auths, clk.now, b.types.JobTypes()...)
	j, err := js.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &auth, Schedule: &every,
		Config: map[string]any{"audiences": list("fr"), "existing_users": true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, nil, j); err != nil {
		t.Fatal(err)
	}
	// Busy: members waiting and asked for (a run's flush), a change in the
	// change log.
	if _, err := b.engine.Backfill(ctx, b.acct, j.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.RequestFlush(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	b.upsert(t, map[string]any{"braze_id": "u000", "country": "DE"})
	s1 := scheduler.New(b.rdb, js, b.client, scheduler.Config{Now: clk.now, Types: b.types})
	s2 := scheduler.New(b.rdb, js, b.client, scheduler.Config{Now: clk.now, Types: b.types})
	pump := b.types
	for range 3 {
		clk.add(time.Minute)
		var wg sync.WaitGroup
		for _, s := range []*scheduler.Scheduler{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Tick(ctx); err != nil {
					t.Error(err)
				}
				if err := pump.Pump(ctx, b.client); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	pending, err := insp.ListPendingTasks(tasks.QueueExport, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	runs := 0
	for _, p := range pending {
		if p.Type == tasks.TypeJobRun {
			var jr tasks.JobRun
			if err := json.Unmarshal(p.Payload, &jr); err != nil || jr.JobID != j.ID {
				t.Fatalf("job run %s %+v", p.Payload, jr)
			}
			runs++
			continue
		}
		seen[p.Type+" "+string(p.Payload)]++
	}
	if runs != 3 {
		t.Fatalf("3 due occurrences became %d job runs", runs)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s enqueued %d times", k, n)
		}
	}
	senders := len(seen) - 1 // all but the feed
	if senders < 2 || senders > 4 || seen[tasks.TypeExportFeed+` {"account":"acme","job_id":"`+j.ID+`"}`] != 1 {
		t.Fatalf("want a feed and 2 to 4 senders (300 users), got %v", seen)
	}
	for slot := range senders {
		p, _ := json.Marshal(tasks.ExportStep{Account: "acme", JobID: j.ID, Slot: slot})
		if seen[tasks.TypeExportSend+" "+string(p)] != 1 {
			t.Fatalf("sender %d of the busy job was not enqueued once: %v", slot, seen)
		}
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

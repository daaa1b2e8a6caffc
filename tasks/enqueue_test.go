package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// setup returns a client and an inspector on a Redis database of the test's
// own: Asynq's keys are global.
func setup(t *testing.T) (*asynq.Client, *asynq.Inspector) {
	c, insp, _ := setupRedis(t)
	return c, insp
}

func setupRedis(t *testing.T) (*asynq.Client, *asynq.Inspector, redis.UniversalClient) {
	t.Helper()
	rdb, _ := redistest.DB(t)
	c := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = c.Close() })
	return c, asynq.NewInspectorFromRedisClient(rdb), rdb
}

func pending(t *testing.T, insp *asynq.Inspector, queue string) []*asynq.TaskInfo {
	t.Helper()
	list, err := insp.ListPendingTasks(queue)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestExportStepIsUniqueForItsWindow asks for one step three times: one
// task is queued, with ExportStepUnique as its window, and asking again is
// not an error; another slot is another task.
func TestExportStepIsUniqueForItsWindow(t *testing.T) {
	t.Parallel()
	c, insp, rdb := setupRedis(t)
	ctx := context.Background()
	step := tasks.ExportStep{Account: "acme", JobID: "job_1", Slot: 0}
	for range 3 {
		if err := tasks.EnqueueExportStep(ctx, c, tasks.TypeExportSend, step); err != nil {
			t.Fatalf("asking again: %v", err)
		}
	}
	step.Slot = 1
	if err := tasks.EnqueueExportStep(ctx, c, tasks.TypeExportSend, step); err != nil {
		t.Fatal(err)
	}
	list := pending(t, insp, tasks.QueueExport)
	if len(list) != 2 {
		t.Fatalf("%d export tasks queued, want 2 (one per slot)", len(list))
	}
	for _, ti := range list {
		if ti.Type != tasks.TypeExportSend || ti.Queue != tasks.QueueExport {
			t.Fatalf("task %+v", ti)
		}
	}
	// Each lock lasts ExportStepUnique, not longer: a dead worker's step
	// is asked for again within that window.
	locks, err := rdb.Keys(ctx, "asynq:{"+tasks.QueueExport+"}:unique:*").Result()
	if err != nil || len(locks) != 2 {
		t.Fatalf("unique locks %v %v, want 2", locks, err)
	}
	for _, k := range locks {
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > tasks.ExportStepUnique {
			t.Fatalf("lock %s lives %v (%v), want at most %v", k, ttl, err, tasks.ExportStepUnique)
		}
	}
}

// TestRequestedRunOncePerJob: while a requested run of a job is queued, a
// second one is refused without an error; another job's is not.
func TestRequestedRunOncePerJob(t *testing.T) {
	t.Parallel()
	c, insp := setup(t)
	ctx := context.Background()
	run := tasks.JobRun{Account: "acme", JobID: "job_1", Trigger: "manual", RunID: "run_a"}
	if ok, err := tasks.EnqueueRequestedRun(ctx, c, run, tasks.QueueImport); !ok || err != nil {
		t.Fatalf("first run: %v %v", ok, err)
	}
	run.RunID = "run_b"
	if ok, err := tasks.EnqueueRequestedRun(ctx, c, run, tasks.QueueImport); ok || err != nil {
		t.Fatalf("second run while the first is queued: started %v, err %v; want refused without error", ok, err)
	}
	run.JobID, run.RunID = "job_2", "run_c"
	if ok, err := tasks.EnqueueRequestedRun(ctx, c, run, tasks.QueueImport); !ok || err != nil {
		t.Fatalf("another job's run: %v %v", ok, err)
	}
	if _, err := tasks.EnqueueRequestedRun(ctx, c, tasks.JobRun{Account: "acme", JobID: "job_3"}, tasks.QueueImport); err == nil {
		t.Fatal("a requested run without a run id was enqueued")
	}
	if n := len(pending(t, insp, tasks.QueueImport)); n != 2 {
		t.Fatalf("%d runs queued, want 2", n)
	}
}

// TestScheduledRunOncePerOccurrence: two schedulers enqueueing the same
// occurrence queue it once, and neither sees an error; the next
// occurrence is another task.
func TestScheduledRunOncePerOccurrence(t *testing.T) {
	t.Parallel()
	c, insp := setup(t)
	ctx := context.Background()
	due := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	occ := tasks.JobRun{Account: "acme", JobID: "job_1", Trigger: "schedule", DueAt: due}
	for range 2 {
		if err := tasks.EnqueueRun(ctx, c, occ, tasks.QueueExport); err != nil {
			t.Fatalf("enqueueing the occurrence again: %v", err)
		}
	}
	occ.DueAt = due.Add(time.Minute)
	if err := tasks.EnqueueRun(ctx, c, occ, tasks.QueueExport); err != nil {
		t.Fatal(err)
	}
	if n := len(pending(t, insp, tasks.QueueExport)); n != 2 {
		t.Fatalf("%d runs queued, want 2 (one per occurrence)", n)
	}
}

// TestAudienceReevaluateChunks enqueues chunks of a re-evaluation on the
// maintenance queue with their payload.
func TestAudienceReevaluateChunks(t *testing.T) {
	t.Parallel()
	c, insp := setup(t)
	ctx := context.Background()
	if err := tasks.EnqueueAudienceReevaluate(ctx, c, tasks.AudienceReevaluate{Account: "acme", Slug: "fr", Cursor: "42"}); err != nil {
		t.Fatal(err)
	}
	list := pending(t, insp, tasks.QueueMaintenance)
	if len(list) != 1 || list[0].Type != tasks.TypeAudienceReevaluate {
		t.Fatalf("queued %+v", list)
	}
	var p tasks.AudienceReevaluate
	if err := tasks.Decode(asynq.NewTask(list[0].Type, list[0].Payload), &p); err != nil || p != (tasks.AudienceReevaluate{Account: "acme", Slug: "fr", Cursor: "42"}) {
		t.Fatalf("payload %+v %v", p, err)
	}
}

// TestImportWatchAndRecoveryAreEnqueuedOnce: asking twice for the look at
// one holding of an import's lease, or for its recovery, enqueues one
// task each and is not an error; another holding is another look.
func TestImportWatchAndRecoveryAreEnqueuedOnce(t *testing.T) {
	t.Parallel()
	c, insp := setup(t)
	ctx := context.Background()
	w := tasks.ImportWatch{Account: "acme", JobID: "job_1", RunID: "run_1", Token: "t1"}
	for range 2 {
		if err := tasks.EnqueueImportWatch(ctx, c, w, time.Hour); err != nil {
			t.Fatalf("watch: %v", err)
		}
		if err := tasks.EnqueueRecoveredRun(ctx, c, w, tasks.QueueImport); err != nil {
			t.Fatalf("recovery: %v", err)
		}
	}
	w.Token = "t2"
	if err := tasks.EnqueueImportWatch(ctx, c, w, time.Hour); err != nil {
		t.Fatal(err)
	}
	scheduled, err := insp.ListScheduledTasks(tasks.QueueImport)
	if err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != 2 {
		t.Errorf("%d watches scheduled, want 2 (one per holding)", len(scheduled))
	}
	runs := pending(t, insp, tasks.QueueImport)
	if len(runs) != 1 || runs[0].Type != tasks.TypeJobRun {
		t.Errorf("pending %v, want one recovered run", runs)
	}
}

package export

import (
	"context"
	"testing"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// testEngine is an Engine on the test's Redis with only a jobs store, and
// an account and job id of its own.
func testEngine(t *testing.T) (e *Engine, js *jobs.Store, acct, job string) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	js = jobs.New(rdb, ns, nil, nil)
	return New(rdb, ns, js, nil, nil, nil, nil, nil, Options{}), js, "acct-" + redistest.RandomID(), "job_1"
}

// A plan that read the job's run before a job run task attached its own
// finishes the run it read and leaves the attached one current: detaching
// it left the manual run open for good.
func TestClosingARunKeepsTheRunAttachedSince(t *testing.T) {
	t.Parallel()
	e, js, acct, job := testEngine(t)
	ctx := context.Background()
	old, err := js.StartRun(ctx, acct, job, "run_changes", "changes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.StartRun(ctx, acct, job, "run_manual", "manual"); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachRun(ctx, acct, job, "run_manual"); err != nil {
		t.Fatal(err)
	}
	// The plan that had read run_changes closes it now.
	if err := e.trackRun(ctx, acct, job, old.ID, false, false); err != nil {
		t.Fatal(err)
	}
	if got, err := e.currentRun(ctx, acct, job); err != nil || got != "run_manual" {
		t.Errorf("current run %q, want run_manual", got)
	}
	if r, err := js.GetRun(ctx, acct, job, old.ID); err != nil || r.EndedAt == nil {
		t.Errorf("the run the plan read is not finished: %+v, %v", r, err)
	}
	// Closing the current run detaches it.
	if err := e.trackRun(ctx, acct, job, "run_manual", false, false); err != nil {
		t.Fatal(err)
	}
	if got, err := e.currentRun(ctx, acct, job); err != nil || got != "" {
		t.Errorf("current run %q after it was closed, want none", got)
	}
}

// A plan that read no current run, and starts one to send, while a job run
// task attached its own meanwhile, starts none: the run it started first
// and then failed to attach stayed open for good, as the job's last run.
func TestStartingARunYieldsToTheRunAttachedSince(t *testing.T) {
	t.Parallel()
	e, js, acct, job := testEngine(t)
	ctx := context.Background()
	if _, err := js.StartRun(ctx, acct, job, "run_manual", "manual"); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachRun(ctx, acct, job, "run_manual"); err != nil {
		t.Fatal(err)
	}
	// The plan that had read no run starts sending now.
	if err := e.trackRun(ctx, acct, job, "", true, true); err != nil {
		t.Fatal(err)
	}
	if got, err := e.currentRun(ctx, acct, job); err != nil || got != "run_manual" {
		t.Errorf("current run %q, want run_manual", got)
	}
	runs, err := js.Runs(ctx, acct, job, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != "run_manual" {
		t.Errorf("runs %+v, want only run_manual", runs)
	}
	// With no run attached, the plan starts one and attaches it.
	if err := e.trackRun(ctx, acct, job, "run_manual", false, false); err != nil {
		t.Fatal(err)
	}
	if err := e.trackRun(ctx, acct, job, "", true, true); err != nil {
		t.Fatal(err)
	}
	cur, err := e.currentRun(ctx, acct, job)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := js.GetRun(ctx, acct, job, cur); err != nil || r.Trigger != "changes" || r.EndedAt != nil {
		t.Errorf("the plan's run %q: %+v, %v", cur, r, err)
	}
}

// A plan that found nothing waiting withdraws the flush request it saw, not
// one made since.
func TestClearingAFlushKeepsALaterRequest(t *testing.T) {
	t.Parallel()
	e, _, acct, job := testEngine(t)
	ctx := context.Background()
	flush := func() string {
		v, _ := e.rdb.HGet(ctx, e.k.state(acct, job), "flush").Result()
		return v
	}
	if err := e.RequestFlush(ctx, acct, job); err != nil {
		t.Fatal(err)
	}
	seen := flush()
	if err := e.RequestFlush(ctx, acct, job); err != nil {
		t.Fatal(err)
	}
	later := flush()
	if seen == "" || later == seen {
		t.Fatalf("flush requests %q then %q: want two different tokens", seen, later)
	}
	e.clearFlush(ctx, acct, job, seen)
	if got := flush(); got != later {
		t.Errorf("flush request %q after clearing an earlier one, want %q", got, later)
	}
	e.clearFlush(ctx, acct, job, later)
	if got := flush(); got != "" {
		t.Errorf("flush request %q after clearing it, want none", got)
	}
}

// A job run task's run replaces the job's current run, which ends.
func TestAttachingARunEndsTheOneItReplaces(t *testing.T) {
	t.Parallel()
	e, js, acct, job := testEngine(t)
	ctx := context.Background()
	for _, id := range []string{"run_changes", "run_manual"} {
		if _, err := js.StartRun(ctx, acct, job, id, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.AttachRun(ctx, acct, job, "run_changes"); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachRun(ctx, acct, job, "run_manual"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.currentRun(ctx, acct, job); err != nil || got != "run_manual" {
		t.Errorf("current run %q, want run_manual", got)
	}
	if r, err := js.GetRun(ctx, acct, job, "run_changes"); err != nil || r.EndedAt == nil {
		t.Errorf("the replaced run is not finished: %+v, %v", r, err)
	}
	if r, err := js.GetRun(ctx, acct, job, "run_manual"); err != nil || r.EndedAt != nil {
		t.Errorf("the attached run: %+v, %v; want it running", r, err)
	}
}

// A batch that lost a user's lease leaves the user waiting and its state
// uncertain (what the batch sent, then what was recorded), keeps the state
// of a user it sent nothing for, and forgets one it was forgetting.
func TestCompleteWithLostLeases(t *testing.T) {
	t.Parallel()
	e, _, acct, job := testEngine(t)
	ctx := context.Background()
	k := e.k
	for _, id := range []string{"p1", "p2", "p3"} {
		if err := e.rdb.HSet(ctx, k.sent(acct, job), id, "recorded-"+id).Err(); err != nil {
			t.Fatal(err)
		}
		// Another sender's lease (deadline 999), not the batch's (111).
		if err := e.rdb.ZAdd(ctx, k.inflight(acct, job), redis.Z{Score: 999, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{k.dirty(acct, job), k.inflight(acct, job), k.sent(acct, job), k.omitted(acct, job), k.state(acct, job)}
	lost, err := completeScript.Run(ctx, e.rdb, keys, 1000, "external_id=braze_id", "c:leases_lost", 0,
		"p1", 111, "s", "batch-p1", "p2", 111, "k", "", "p3", 111, "d", "").Int64()
	if err != nil || lost != 3 {
		t.Fatalf("lost %d, %v", lost, err)
	}
	sent, err := e.rdb.HGetAll(ctx, k.sent(acct, job)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := uncertainMark + "batch-p1" + stateAltSep + "recorded-p1"; sent["p1"] != want {
		t.Errorf("p1 state %q, want %q", sent["p1"], want)
	}
	if sent["p2"] != "recorded-p2" {
		t.Errorf("p2 state %q, want it kept", sent["p2"])
	}
	if _, ok := sent["p3"]; ok {
		t.Errorf("p3 state kept: %q", sent["p3"])
	}
	if n, err := e.rdb.ZCard(ctx, k.dirty(acct, job)).Result(); err != nil || n != 3 {
		t.Errorf("%d users waiting again, want 3 (%v)", n, err)
	}
}

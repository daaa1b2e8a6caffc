package workers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/tasks"
)

// runAndWait runs a job now, as POST .../run does, and waits until the run
// ended with nobody waiting or leased.
func (b *exportBundle) runAndWait(t *testing.T, jobID, trigger string) {
	t.Helper()
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: b.acct, JobID: jobID, Trigger: trigger, RunID: jobs.NewRunID()}, tasks.QueueExport)
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, jobID, trigger)
}

func (b *exportBundle) waitIdle(t *testing.T, jobID, trigger string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			d, _ := b.jobs.Describe(context.Background(), b.acct, jobID)
			runs, _ := b.jobs.Runs(context.Background(), b.acct, jobID, 5)
			t.Logf("job: state %s, last run %+v, progress %v; runs %+v", d.State, d.LastRun, d.Progress, runs)
		}
	}()
	poll.Until(t, 20*time.Second, "the "+trigger+" run to end with the job idle", func() bool {
		d, err := b.jobs.Describe(context.Background(), b.acct, jobID)
		return err == nil && d.LastRun != nil && d.LastRun.Trigger == trigger && d.LastRun.EndedAt != nil &&
			d.Progress["waiting"] == 0.0 && d.Progress["in_flight"] == 0.0
	})
}

// agrees fails unless the preview's requests, objects and data points are
// what the simulator counted since before.
func agrees(t *testing.T, what string, p *export.Preview, before, after brazesim.Stats) {
	t.Helper()
	got := [3]int64{after.Requests - before.Requests, after.Objects - before.Objects, after.DataPoints - before.DataPoints}
	want := [3]int64{p.Requests, p.Objects, p.DataPoints}
	if got != want {
		t.Fatalf("%s: the simulator counted requests, objects, data points %v; the preview said %v (%+v)", what, got, want, *p)
	}
}

// TestExportPreviewAgreesWithTheRun: the preview of a job not created yet,
// and of a created job's next run, are exactly what the run then sends:
// requests, objects and data points as the simulator counts them, users
// omitted for want of an identifier and users Braze already has counted
// apart.
func TestExportPreviewAgreesWithTheRun(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	var recs []map[string]any
	for i := range 23 {
		r := map[string]any{"email": fmt.Sprintf("p%02d@x.io", i), "country": "DE"}
		if i%5 != 4 {
			r["braze_id"] = fmt.Sprintf("u%02d", i) // every fifth has no identifier
		}
		if i%2 == 0 {
			r["country"] = "FR"
		}
		recs = append(recs, r)
	}
	b.upsert(t, recs...)
	auth := b.brazeAuth(t, "key-1", map[string]any{"batch_size": 4.0})
	cfg := map[string]any{"audiences": list("fr"), "existing_users": true, "flush_users": 100000.0, "flush_interval_seconds": 86400.0}
	label := "export"
	draft, err := b.jobs.Check(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &auth, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.engine.PreviewNew(ctx, draft)
	if err != nil {
		t.Fatal(err)
	}
	// 12 in fr, of which i = 4, 14 have no braze_id: 10 sent.
	if p.UsersToAdd != 10 || p.UsersToRemove != 0 || p.UsersUnchanged != 0 || p.UsersOmitted.Total != 2 || p.UsersOmitted.Reasons[export.OmitNoIdentifier] != 2 ||
		p.Objects != 10 || p.Requests != 3 || p.DataPoints != 10 || p.SecondsAtRateLimit <= 0 {
		t.Fatalf("preview of the new job: %+v", *p)
	}
	before := b.sim.Stats()
	j := b.startJob(t, auth, cfg)
	b.waitIdle(t, j.ID, "create")
	agrees(t, "first run", p, before, b.sim.Stats())

	// Changes: two leave fr, one enters, a new one enters; one gains an
	// identifier and one a field, which changes no membership: they are
	// not sent.
	b.upsert(t,
		map[string]any{"braze_id": "u00", "country": "IT"},
		map[string]any{"braze_id": "u02", "country": "ES"},
		map[string]any{"braze_id": "u01", "country": "FR"},
		map[string]any{"braze_id": "n1", "country": "FR"},
		map[string]any{"email": "p04@x.io", "braze_id": "u04"},
		map[string]any{"braze_id": "u06", "city": "Lyon"},
	)
	poll.Until(t, 10*time.Second, "the changes to reach the job", func() bool {
		p, err = b.engine.PreviewJob(ctx, j)
		return err == nil && p.Objects == 4
	})
	if p.UsersToAdd != 2 || p.UsersToRemove != 2 || p.UsersUnchanged != 0 || p.Requests != 1 || p.DataPoints != 4 {
		t.Fatalf("preview of the next run: %+v", *p)
	}
	before = b.sim.Stats()
	b.runAndWait(t, j.ID, "manual")
	agrees(t, "next run", p, before, b.sim.Stats())
	if p, err = b.engine.PreviewJob(ctx, j); err != nil || p.Objects != 0 || p.Requests != 0 {
		t.Fatalf("preview with nothing changed: %+v %v", p, err)
	}

	// A recheck walks every member again: the one that gained an
	// identifier is sent, the others are unchanged or omitted.
	if _, err := b.jobs.Pause(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Recheck(ctx, j); err != nil {
		t.Fatal(err)
	}
	p, err = b.engine.PreviewJob(ctx, j)
	if err != nil || p.Objects != 1 || p.UsersToAdd != 1 || p.UsersUnchanged != 10 || p.UsersOmitted.Total != 1 || p.Requests != 1 {
		t.Fatalf("preview of a recheck: %+v %v", p, err)
	}
	if _, err := b.jobs.Resume(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	before = b.sim.Stats()
	b.runAndWait(t, j.ID, "recheck")
	agrees(t, "recheck", p, before, b.sim.Stats())
}

// TestExportTraceShowsBrazesRejection: a user whose object Braze rejects
// (an identifier it refuses) keeps Braze's message, which the trace shows
// with nothing accepted; a user Braze accepted shows when, and no error.
func TestExportTraceShowsBrazesRejection(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t,
		map[string]any{"braze_id": "good", "contact": "good@example.com", "country": "FR"},
		map[string]any{"braze_id": "bad", "contact": "not-an-email", "country": "FR"},
	)
	auth := b.brazeAuth(t, "key-1", nil)
	start := time.Now()
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true, "identifier_field": "contact", "identifier_kind": "email"})
	b.waitIdle(t, j.ID, "create")
	trace := func(brazeID string) *export.UserTrace {
		t.Helper()
		p, err := b.prof.Lookup(ctx, b.acct, "braze_id", brazeID)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := b.engine.TraceUser(ctx, j, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	bad := trace("bad")
	if bad.LastError == nil || !strings.Contains(bad.LastError.Message, "email") || bad.LastError.At.Before(start.Truncate(time.Millisecond)) ||
		bad.Accepted != nil || bad.Next != "send" || bad.Pending != nil {
		t.Fatalf("trace of the rejected user: %+v (last error %+v)", bad, bad.LastError)
	}
	good := trace("good")
	if good.LastError != nil || good.Accepted == nil || good.Accepted.Identifier != "email=good@example.com" ||
		good.Accepted.At == nil || good.Accepted.At.Before(start.Truncate(time.Millisecond)) || good.Next != "unchanged" {
		t.Fatalf("trace of the accepted user: %+v", good)
	}
}

// TestExportPreviewOfSeveralAudiences: with two audiences, users in one
// or the other are each one object, and the preview of the job's first
// run and of a recheck agree with what the runs send. (The audiences do
// not overlap: a backfill walks a user in two audiences twice, and a
// sender that leases it again while its first lease is held sends it once
// more, which no preview foresees.)
func TestExportPreviewOfSeveralAudiences(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.audience(t, "vip", `{"field":"tier","op":"eq","value":"gold"}`)
	var recs []map[string]any
	for i := range 40 {
		r := map[string]any{"braze_id": fmt.Sprintf("s%02d", i), "country": "DE"}
		switch {
		case i%2 == 0:
			r["country"] = "FR"
		case i%3 == 0:
			r["tier"] = "gold" // 3, 9, 15, 21, 27, 33, 39
		}
		recs = append(recs, r)
	}
	b.upsert(t, recs...)
	auth := b.brazeAuth(t, "key-1", nil)
	cfg := map[string]any{"audiences": list("fr", "vip"), "existing_users": true, "flush_users": 100000.0, "flush_interval_seconds": 86400.0}
	label := "export"
	draft, err := b.jobs.Check(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &auth, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.engine.PreviewNew(ctx, draft)
	if err != nil {
		t.Fatal(err)
	}
	if p.UsersToAdd != 27 || p.Objects != 27 || p.DataPoints != 27 || p.Requests != 1 {
		t.Fatalf("preview of the new job: %+v", *p)
	}
	before := b.sim.Stats()
	j := b.startJob(t, auth, cfg)
	b.waitIdle(t, j.ID, "create")
	agrees(t, "first run", p, before, b.sim.Stats())
	// Five leave vip for no audience and one enters fr; a recheck sends
	// only them.
	for _, i := range []int{3, 9, 15, 21, 27} {
		b.upsert(t, map[string]any{"braze_id": fmt.Sprintf("s%02d", i), "tier": "silver"})
	}
	b.upsert(t, map[string]any{"braze_id": "s01", "country": "FR"})
	if _, err := b.jobs.Pause(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Recheck(ctx, j); err != nil {
		t.Fatal(err)
	}
	if p, err = b.engine.PreviewJob(ctx, j); err != nil || p.Objects != 6 || p.UsersToAdd != 1 || p.UsersToRemove != 5 || p.UsersUnchanged != 22 {
		t.Fatalf("preview of a recheck: %+v %v", p, err)
	}
	if _, err := b.jobs.Resume(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	before = b.sim.Stats()
	b.runAndWait(t, j.ID, "recheck")
	agrees(t, "recheck", p, before, b.sim.Stats())
}

package workers

import (
	"context"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// omittedSoFar adds up the users the job's runs omitted.
func (b *exportBundle) omittedSoFar(t *testing.T, jobID string) int64 {
	t.Helper()
	runs, err := b.jobs.Runs(context.Background(), b.acct, jobID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range runs {
		n += r.Counters["omitted"]
	}
	return n
}

// changeJob updates a job's config and tells the engine, as the API does.
func (b *exportBundle) changeJob(t *testing.T, jobID string, cfg map[string]any) {
	t.Helper()
	ctx := context.Background()
	before, err := b.jobs.Get(ctx, b.acct, jobID)
	if err != nil {
		t.Fatal(err)
	}
	after, err := b.jobs.Update(ctx, b.acct, jobID, jobs.Input{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, before, after); err != nil {
		t.Fatal(err)
	}
}

// TestExportIdentifierChangeSendsOmittedUsers: profiles keyed by
// external_id, exported by a job on the default braze_id, are all
// omitted; once the job's identifier_field is external_id they are sent,
// without any change of theirs. Members from before the job started
// (no existing_users) are still not sent.
func TestExportIdentifierChangeSendsOmittedUsers(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"external_id": "before", "country": "FR"})
	j := b.startJob(t, b.brazeAuth(t, "key-1", nil), map[string]any{"audiences": list("fr"), "flush_users": 1.0})
	poll.Until(t, 20*time.Second, "the job's first run", func() bool {
		d, _ := b.jobs.Describe(context.Background(), b.acct, j.ID)
		return d.LastRun != nil && d.LastRun.EndedAt != nil
	})
	b.upsert(t, map[string]any{"external_id": "e1", "country": "FR"}, map[string]any{"external_id": "e2", "country": "FR"}, map[string]any{"external_id": "e3", "country": "DE"})
	poll.Until(t, 20*time.Second, "the two new members omitted", func() bool { return b.omittedSoFar(t, j.ID) >= 2 })
	if n := b.sim.Stats().Requests; n != 0 {
		t.Fatalf("%d requests for users without a braze_id", n)
	}
	b.changeJob(t, j.ID, map[string]any{"identifier_field": "external_id"})
	b.waitSegments(t, map[string][]string{"e1": {"fr"}, "e2": {"fr"}})
	if _, ok := b.sim.User("before"); ok {
		t.Fatal("a member from before the job started was sent without existing_users")
	}
	if _, ok := b.sim.User("e3"); ok {
		t.Fatal("a user in no audience of the job was sent")
	}
}

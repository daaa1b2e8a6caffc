package workers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// attrsMatch reports whether the simulator's user id holds want: a value
// of nil means the attribute is absent, a []string the array's items in
// any order.
func (b *exportBundle) attrsMatch(id string, want map[string]any) bool {
	u, ok := b.sim.User(id)
	if !ok {
		return false
	}
	for k, w := range want {
		got, has := u[k]
		switch w := w.(type) {
		case nil:
			if has {
				return false
			}
		case []string:
			segs, _ := b.segments(id)
			if k != "lytics_segments" || strings.Join(segs, ",") != strings.Join(w, ",") {
				return false
			}
		default:
			if !has || got != w {
				return false
			}
		}
	}
	return true
}

func (b *exportBundle) waitAttrs(t *testing.T, want map[string]map[string]any) {
	t.Helper()
	poll.Until(t, 20*time.Second, fmt.Sprintf("Braze to hold %v", want), func() bool {
		for id, w := range want {
			if !b.attrsMatch(id, w) {
				return false
			}
		}
		return true
	})
}

// runsCounter adds up a counter over the job's runs.
func (b *exportBundle) runsCounter(t *testing.T, jobID, name string) int64 {
	t.Helper()
	runs, err := b.jobs.Runs(context.Background(), b.acct, jobID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range runs {
		n += r.Counters[name]
	}
	return n
}

// TestExportBooleanModeAndSwitches: a boolean-mode job writes
// lytics_<slug> true on entry and false on exit; switching the job to
// array mode sets the booleans to null and writes the array, and
// switching back removes the job's slugs from the array.
func TestExportBooleanModeAndSwitches(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.audience(t, "vip", `{"field":"tier","op":"eq","value":"gold"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR", "tier": "gold"}, map[string]any{"braze_id": "u2", "country": "FR"})
	auth := b.brazeAuth(t, "k", nil)
	cfg := map[string]any{"audiences": list("fr", "vip"), "existing_users": true, "flush_users": 1.0, "attribute_mode": "boolean"}
	j := b.startJob(t, auth, cfg)
	b.waitAttrs(t, map[string]map[string]any{
		"u1": {"lytics_fr": true, "lytics_vip": true, "lytics_segments": nil},
		"u2": {"lytics_fr": true, "lytics_vip": nil},
	})
	b.upsert(t, map[string]any{"braze_id": "u1", "tier": "silver"})
	b.waitAttrs(t, map[string]map[string]any{"u1": {"lytics_fr": true, "lytics_vip": false}})

	// To array mode: every user the job sent converges, though none changed.
	cfg["attribute_mode"] = "array"
	b.changeJob(t, j.ID, cfg)
	b.waitAttrs(t, map[string]map[string]any{
		"u1": {"lytics_fr": nil, "lytics_vip": nil, "lytics_segments": []string{"fr"}},
		"u2": {"lytics_fr": nil, "lytics_vip": nil, "lytics_segments": []string{"fr"}},
	})
	// Back to boolean mode with another prefix: the array loses the job's
	// slugs but keeps what others wrote.
	if a := b.track(t, "k", `{"external_id":"u2","lytics_segments":{"add":["other"]}}`); a != http.StatusCreated {
		t.Fatalf("writing another slug: %d", a)
	}
	cfg["attribute_mode"], cfg["attribute_prefix"] = "boolean", "aud_"
	b.changeJob(t, j.ID, cfg)
	b.waitAttrs(t, map[string]map[string]any{
		"u1": {"aud_fr": true, "lytics_segments": []string{}},
		"u2": {"aud_fr": true, "lytics_segments": []string{"other"}},
	})
	// Unchanged users cost nothing: a recheck sends nothing.
	poll.Until(t, 20*time.Second, "the job to be idle", func() bool {
		d, err := b.jobs.Describe(context.Background(), b.acct, j.ID)
		return err == nil && d.LastRun != nil && d.LastRun.EndedAt != nil && d.Progress["waiting"] == 0.0 && d.Progress["in_flight"] == 0.0
	})
	before, unchanged := b.sim.Stats().DataPoints, b.runsCounter(t, j.ID, "unchanged")
	jj, err := b.jobs.Get(context.Background(), b.acct, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Recheck(context.Background(), jj); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the recheck to find both users unchanged", func() bool {
		return b.runsCounter(t, j.ID, "unchanged") >= unchanged+2
	})
	if after := b.sim.Stats().DataPoints; after != before {
		t.Fatalf("a recheck of unchanged users cost %d data points", after-before)
	}
}

// track posts one attributes object to the simulator with key.
func (b *exportBundle) track(t *testing.T, key, object string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.simURL+"/users/track", bytes.NewBufferString(`{"attributes":[`+object+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

// TestExportArrayLimitGuard: Braze keeps at most its limit of items in an
// array and silently drops the oldest. An authorization whose
// max_array_items is above the workspace's real limit lets a job through
// and a member of every audience loses one; at the right limit the job is
// refused, naming the jobs and the count, while a boolean-mode job is not
// concerned.
func TestExportArrayLimitGuard(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{ArrayLimit: 3})
	for _, s := range []string{"a1", "a2", "a3", "a4"} {
		b.audience(t, s, `{"field":"all","op":"eq","value":"y"}`)
	}
	b.upsert(t, map[string]any{"braze_id": "u1", "all": "y"})
	ctx := context.Background()

	// What the guard prevents: told 4, the workspace keeps 3.
	wrong := b.brazeAuth(t, "k1", map[string]any{"max_array_items": 4})
	b.startJob(t, wrong, map[string]any{"audiences": list("a1", "a2"), "existing_users": true, "flush_users": 1.0})
	b.waitSegments(t, map[string][]string{"u1": {"a1", "a2"}})
	label := "more"
	more, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &wrong, Config: map[string]any{"audiences": list("a3", "a4"), "existing_users": true, "flush_users": 1.0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, nil, more); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "both jobs' sends to reach Braze", func() bool {
		segs, _ := b.segments("u1")
		return len(segs) == 3 && strings.Contains(strings.Join(segs, ","), "a4")
	})
	segs, _ := b.segments("u1")
	t.Logf("u1 is in 4 audiences and Braze holds %v", segs)

	// The guard at the workspace's limit.
	right := b.brazeAuth(t, "k2", map[string]any{"max_array_items": 3})
	label = "first"
	first, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &right, Config: map[string]any{"audiences": list("a1", "a2")}})
	if err != nil {
		t.Fatal(err)
	}
	label = "second"
	_, err = b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &right, Config: map[string]any{"audiences": list("a2", "a3", "a4")}})
	var ve *fault.ValidationError
	if !errors.As(err, &ve) || ve.Field != "config.audiences" || !strings.Contains(ve.Message, first.ID) || !strings.Contains(ve.Message, "4 distinct audiences") {
		t.Fatalf("a job past the limit: err = %v", err)
	}
	// Changing the first job past the limit fails too.
	if _, err := b.jobs.Update(ctx, b.acct, first.ID, jobs.Input{Config: map[string]any{"audiences": list("a1", "a2", "a3", "a4")}}); !errors.As(err, &ve) {
		t.Fatalf("an update past the limit: err = %v", err)
	}
	// Within it, another attribute, or boolean mode: accepted.
	for _, cfg := range []map[string]any{
		{"audiences": list("a2", "a3")},
		{"audiences": list("a3", "a4"), "attribute": "other_segments"},
		{"audiences": list("a1", "a2", "a3", "a4"), "attribute_mode": "boolean"},
	} {
		if _, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &right, Config: cfg}); err != nil {
			t.Fatalf("%v: %v", cfg, err)
		}
	}
}

// TestExportUpdateExistingOnly: with update_existing_only the job updates
// users Braze has and creates none; its runs count the users Braze
// skipped.
func TestExportUpdateExistingOnly(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	if a := b.track(t, "k", `{"external_id":"known","first_name":"K"}`); a != http.StatusCreated {
		t.Fatalf("creating the known user: %d", a)
	}
	b.upsert(t, map[string]any{"braze_id": "known", "country": "FR"}, map[string]any{"braze_id": "ghost1", "country": "FR"}, map[string]any{"braze_id": "ghost2", "country": "FR"})
	j := b.startJob(t, b.brazeAuth(t, "k", nil), map[string]any{"audiences": list("fr"), "existing_users": true, "flush_users": 1.0, "update_existing_only": true})
	b.waitSegments(t, map[string][]string{"known": {"fr"}})
	poll.Until(t, 20*time.Second, "the run to count the two users Braze skipped", func() bool {
		return b.runsCounter(t, j.ID, export.CounterNotInBraze) == 2
	})
	for _, id := range []string{"ghost1", "ghost2"} {
		if _, ok := b.sim.User(id); ok {
			t.Fatalf("the job created %s in Braze", id)
		}
	}
	if st := b.sim.Stats(); st.NotUpdated != 2 {
		t.Fatalf("the simulator skipped %d objects, want 2", st.NotUpdated)
	}
}

// TestExportRecheckCountsEachUserOnce: a recheck walks the job's audiences
// one after another, and meets a user once per audience it is in; each
// user already in Braze must be checked, and counted unchanged, once.
func TestExportRecheckCountsEachUserOnce(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	for _, slug := range []string{"a", "b", "c"} {
		b.audience(t, slug, fmt.Sprintf(`{"field":"in_%s","op":"eq","value":"y"}`, slug))
	}
	b.upsert(t,
		map[string]any{"braze_id": "u1", "in_a": "y", "in_b": "y", "in_c": "y"},
		map[string]any{"braze_id": "u2", "in_b": "y", "in_c": "y"},
		map[string]any{"braze_id": "u3", "in_c": "y"},
		map[string]any{"braze_id": "u4", "in_a": "y"},
	)
	j := b.startJob(t, b.brazeAuth(t, "k", nil), map[string]any{"audiences": list("a", "b", "c"), "existing_users": true})
	b.waitSegments(t, map[string][]string{"u1": {"a", "b", "c"}, "u2": {"b", "c"}, "u3": {"c"}, "u4": {"a"}})
	idleAfter := func(prev string) *jobs.Run {
		var last *jobs.Run
		poll.Until(t, 20*time.Second, "the job to be idle", func() bool {
			d, err := b.jobs.Describe(ctx, b.acct, j.ID)
			if err != nil || d.LastRun == nil || d.LastRun.ID == prev || d.LastRun.EndedAt == nil || d.Progress["waiting"] != 0.0 || d.Progress["in_flight"] != 0.0 {
				return false
			}
			last = d.LastRun
			return true
		})
		return last
	}
	first := idleAfter("")
	before := b.runsCounter(t, j.ID, "unchanged")
	jj, err := b.jobs.Get(ctx, b.acct, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Recheck(ctx, jj); err != nil {
		t.Fatal(err)
	}
	idleAfter(first.ID)
	if got := b.runsCounter(t, j.ID, "unchanged") - before; got != 4 {
		t.Fatalf("the recheck counted %d users unchanged, want 4 (one per user, not per audience)", got)
	}
}

// TestExportWalkDoesNotCountUsersSentInItsRun: a backfill that meets
// users already sent in the same run (the change feed sent them while the
// walk went on), or a sender that meets users the backfill sent in it,
// does not count them again as unchanged (a walk in a later
// run does: TestExportRecheckCountsEachUserOnce). The steps run by hand, in
// that order, with no worker.
func TestExportWalkDoesNotCountUsersSentInItsRun(t *testing.T) {
	t.Parallel()
	b := setupStores(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"}, map[string]any{"braze_id": "u2", "country": "FR"})
	auth := b.brazeAuth(t, "k", nil)
	label := "export"
	j, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &auth,
		Config: map[string]any{"audiences": list("fr"), "existing_users": true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, nil, j); err != nil {
		t.Fatal(err)
	}
	walk := func() {
		t.Helper()
		for done := false; !done; {
			if done, err = b.engine.BackfillChunk(ctx, b.acct, j.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	walk() // both users wait
	if _, err := b.engine.Send(ctx, b.acct, j.ID, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	b.waitSegments(t, map[string][]string{"u1": {"fr"}, "u2": {"fr"}})
	// A second walk in the same run meets both, sent in it.
	if err := b.engine.Recheck(ctx, j); err != nil {
		t.Fatal(err)
	}
	walk()
	// u1 leaves and comes back: the change feed makes it wait, and a
	// sender finds Braze has its state, accepted in this run.
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "DE"})
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	if _, err := b.engine.Feed(ctx, b.acct, j.ID, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := b.engine.Send(ctx, b.acct, j.ID, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	runs, err := b.jobs.Runs(ctx, b.acct, j.ID, 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %+v, %v; want the one run", runs, err)
	}
	if c := runs[0].Counters; c["sent"] != 2 || c["unchanged"] != 0 {
		t.Fatalf("run counters %v: want 2 sent and none counted unchanged again", c)
	}
}

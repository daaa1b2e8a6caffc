package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/scheduler"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// exportBundle is a whole export pipeline on real Redis: profiles,
// audiences, change log, jobs, a Braze simulator over HTTP, workers and the
// scheduler's pump.
type exportBundle struct {
	rdb    redis.UniversalClient
	url    string // of the leased Redis database, for child processes
	sim    *brazesim.Sim
	simURL string
	prof   *profiles.Store
	aud    *audiences.Service
	auths  *authorizations.Store
	jobs   *jobs.Store
	engine *export.Engine
	// types registers the export job type, as brazesync does.
	types  *jobtype.Registry
	client *asynq.Client
	acct   string
	// metrics is the engine's Prometheus registry.
	metrics *prometheus.Registry
}

func setupExport(t *testing.T, simOpts brazesim.Options) *exportBundle {
	return setupExportTick(t, simOpts, 100*time.Millisecond)
}

// setupExportTick is setupExport with the scheduler ticking every tick.
func setupExportTick(t *testing.T, simOpts brazesim.Options, tick time.Duration) *exportBundle {
	t.Helper()
	return startExport(t, setupStores(t, simOpts), tick)
}

// startExport starts workers and the scheduler (ticking every tick) on b's
// stores.
func startExport(t *testing.T, b *exportBundle, tick time.Duration) *exportBundle {
	t.Helper()
	// The engine may have been replaced since setupStores.
	b.types = registry(t, b.jobType())
	srv := NewServer(b.rdb, Config{Concurrency: 6, Logger: testLogger()})
	srv.HandleJobs(b.jobs, b.types, testLogger())
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	sched := scheduler.New(b.rdb, b.jobs, b.client, scheduler.Config{Tick: tick, Types: b.types})
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sched.Stop)
	return b
}

// setupStores is the export pipeline without workers or scheduler: stores
// on a leased Redis database (namespace "bs", as brazesync processes use),
// the engine, an Asynq client and a Braze simulator over HTTP.
func setupStores(t *testing.T, simOpts brazesim.Options) *exportBundle {
	t.Helper()
	rdb, url := redistest.DB(t)
	return setupStoresOn(t, simOpts, rdb, url)
}

// setupStoresOn is setupStores on rdb (whose URL is url, or "" when no
// child process needs it).
func setupStoresOn(t *testing.T, simOpts brazesim.Options, rdb redis.UniversalClient, url string) *exportBundle {
	t.Helper()
	ns := keyspace.DefaultNamespace
	b := &exportBundle{rdb: rdb, url: url, acct: "acme"}
	b.sim = brazesim.New(simOpts)
	hs := httptest.NewServer(b.sim)
	t.Cleanup(hs.Close)
	t.Cleanup(b.sim.Close)
	b.simURL = hs.URL
	b.aud = audiences.New(rdb, ns, nil, audiences.Options{Logger: testLogger()})
	b.prof = profiles.New(rdb, ns, b.aud, profiles.Options{})
	b.aud.UseProfiles(b.prof)
	clog := changelog.New(rdb, ns, changelog.Options{})
	box, err := secrets.NewBox(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	// The simulator is on loopback: the tests allow it explicitly, as an
	// operator would with BRAZESYNC_EGRESS_ALLOW and the endpoint flags.
	b.auths = authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{
		AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopbackAllowed}), otherAuthorizationType))
	b.jobs = jobs.New(rdb, ns, b.auths, nil)
	b.metrics = prometheus.NewRegistry()
	b.engine = export.New(rdb, ns, b.jobs, b.auths, b.prof, b.aud, clog, ratelimit.New(rdb, ns), export.Options{AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopbackAllowed,
		Logger: testLogger(), MaxInlineWait: 500 * time.Millisecond, Registerer: b.metrics})
	b.client = asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = b.client.Close() })
	b.types = registry(t, b.jobType())
	for _, jt := range b.types.JobTypes() {
		b.jobs.AddType(jt)
	}
	if _, err := b.aud.EnsureDefaults(context.Background(), b.acct); err != nil {
		t.Fatal(err)
	}
	return b
}

// jobType is the export job type on b's engine, as brazesync registers it
// (with a shorter send budget).
func (b *exportBundle) jobType() jobtype.Type {
	return b.engine.JobType(export.TypeOptions{AudienceExists: b.aud.Exists, Enqueuer: b.client, SendBudget: 2 * time.Second, Logger: testLogger()})
}

// otherAuthorizationType is an authorization type that is not Braze's.
var otherAuthorizationType = authorizations.Type{Name: "webhook", Config: []string{"url"}, Secrets: []string{"token"},
	Validate: func(*authorizations.Authorization, map[string]string) error { return nil }}

// audience creates a rule audience and evaluates it against the existing
// profiles at once, as brazesync's re-evaluation task would.
func (b *exportBundle) audience(t *testing.T, slug, rule string) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.aud.Create(ctx, b.acct, audiences.Audience{Slug: slug, Name: slug, Kind: audiences.KindRule, Rule: json.RawMessage(rule)}); err != nil {
		t.Fatal(err)
	}
	b.evaluate(t, slug)
}

// evaluate runs a rule audience's re-evaluation to its end.
func (b *exportBundle) evaluate(t *testing.T, slug string) {
	t.Helper()
	for cursor, done := "", false; !done; {
		var err error
		if cursor, done, _, err = b.aud.ReevaluateChunk(context.Background(), b.acct, slug, cursor); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *exportBundle) upsert(t *testing.T, recs ...map[string]any) {
	t.Helper()
	rs := make([]profiles.Record, len(recs))
	for i, r := range recs {
		rs[i] = profiles.Record{Fields: r}
	}
	res, err := b.prof.Upsert(context.Background(), b.acct, "braze_users", rs)
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("upsert: %v %+v", err, res.Rejected)
	}
}

func (b *exportBundle) brazeAuth(t *testing.T, key string, cfg map[string]any) string {
	t.Helper()
	label := "sim"
	c := map[string]any{"rest_endpoint": b.simURL}
	for k, v := range cfg {
		c[k] = v
	}
	a, _, err := b.auths.Create(context.Background(), b.acct, authorizations.Input{Type: "braze", Label: &label, Config: c, Secrets: map[string]string{"api_key": key}})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// startJob creates an export job and enqueues its first run, as the API does.
func (b *exportBundle) startJob(t *testing.T, authID string, cfg map[string]any) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	label := "export"
	j, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &authID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, nil, j); err != nil {
		t.Fatal(err)
	}
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: b.acct, JobID: j.ID, Trigger: "create"}, tasks.QueueExport)
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	return j
}

// segments returns the user's lytics_segments in the simulator, sorted.
func (b *exportBundle) segments(id string) ([]string, bool) {
	u, ok := b.sim.User(id)
	if !ok {
		return nil, false
	}
	raw, _ := u["lytics_segments"].([]any)
	out := []string{}
	for _, v := range raw {
		out = append(out, fmt.Sprint(v))
	}
	sort.Strings(out)
	return out, true
}

func (b *exportBundle) waitSegments(t *testing.T, want map[string][]string) {
	t.Helper()
	poll.Until(t, 20*time.Second, "Braze to hold the expected segments", func() bool {
		for id, w := range want {
			got, ok := b.segments(id)
			if !ok || !slices.Equal(got, w) {
				return false
			}
		}
		return true
	})
}

func list(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestExportBackfillThenChanges(t *testing.T) {
	t.Parallel()
	exportBackfillThenChanges(t, setupExport(t, brazesim.Options{}))
}

// TestExportOnRedisCluster runs the same on a three-node Redis Cluster:
// Asynq, the scheduler, the engine and every store on one cluster client.
func TestExportOnRedisCluster(t *testing.T) {
	t.Parallel()
	exportBackfillThenChanges(t, startExport(t, setupStoresOn(t, brazesim.Options{}, redistest.Cluster(t, 3), ""), 100*time.Millisecond))
}

// exportBackfillThenChanges backfills two audiences of 200 users, then
// sends two changes, then checks that a run with nothing changed sends
// nothing.
func exportBackfillThenChanges(t *testing.T, b *exportBundle) {
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.audience(t, "vip", `{"field":"tier","op":"eq","value":"gold"}`)
	var recs []map[string]any
	want := map[string][]string{}
	for i := 0; i < 200; i++ {
		r := map[string]any{"braze_id": fmt.Sprintf("u%03d", i), "country": "DE"}
		var segs []string
		if i%2 == 0 {
			r["country"] = "FR"
			segs = append(segs, "fr")
		}
		if i%3 == 0 {
			r["tier"] = "gold"
			segs = append(segs, "vip")
		}
		recs = append(recs, r)
		if len(segs) > 0 {
			want[fmt.Sprintf("u%03d", i)] = segs
		}
	}
	b.upsert(t, recs...)
	auth := b.brazeAuth(t, "key-1", nil)
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr", "vip"), "existing_users": true, "flush_users": 1.0})
	b.waitSegments(t, want)
	if _, ok := b.sim.User("u001"); ok {
		t.Fatal("a user in no audience of the job was sent")
	}
	st := b.sim.Stats()
	if st.DataPoints != int64(len(want)) {
		t.Fatalf("backfill cost %d data points, want one per user (%d)", st.DataPoints, len(want))
	}
	// Changes after start: u000 leaves fr (stays vip), u001 enters fr.
	b.upsert(t, map[string]any{"braze_id": "u000", "country": "IT"}, map[string]any{"braze_id": "u001", "country": "FR"})
	b.waitSegments(t, map[string][]string{"u000": {"vip"}, "u001": {"fr"}})
	// A run that changes nothing sends nothing.
	before := b.sim.Stats().DataPoints
	b.upsert(t, map[string]any{"braze_id": "u002", "country": "FR"})
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: b.acct, JobID: j.ID, Trigger: "manual"}, tasks.QueueExport)
	b.client.Enqueue(task)
	var last *jobs.Job
	defer func() {
		if t.Failed() && last != nil {
			runs, _ := b.jobs.Runs(context.Background(), b.acct, j.ID, 5)
			t.Logf("job when the wait ended: last run %+v, progress %v; runs %+v", last.LastRun, last.Progress, runs)
		}
	}()
	poll.Until(t, 20*time.Second, "the manual run to end with the job idle", func() bool {
		last, _ = b.jobs.Describe(context.Background(), b.acct, j.ID)
		d := last
		return d != nil && d.LastRun != nil && d.LastRun.Trigger == "manual" && d.LastRun.EndedAt != nil &&
			d.Progress["waiting"] == 0.0 && d.Progress["in_flight"] == 0.0
	})
	if after := b.sim.Stats().DataPoints; after != before {
		t.Fatalf("an unchanged user cost %d data points", after-before)
	}
	// The manual run is recorded and sent nothing.
	d, _ := b.jobs.Describe(context.Background(), b.acct, j.ID)
	if d.LastRun == nil || d.LastRun.Trigger != "manual" || d.LastRun.Counters["requests"] != 0 {
		t.Fatalf("the manual run: %+v", d.LastRun)
	}
}

func TestExportWithoutBackfillSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "old", "country": "FR"})
	auth := b.brazeAuth(t, "key-1", nil)
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "flush_users": 1.0})
	poll.Until(t, 20*time.Second, "job run recorded", func() bool { d, _ := b.jobs.Describe(context.Background(), b.acct, j.ID); return d.LastRun != nil })
	b.upsert(t, map[string]any{"braze_id": "new", "country": "FR"}, map[string]any{"braze_id": "nobraze_user_has_no_id_field", "country": "DE"})
	b.waitSegments(t, map[string][]string{"new": {"fr"}})
	if _, ok := b.sim.User("old"); ok {
		t.Fatal("an existing member was sent without existing_users")
	}
	// Exit after start: remove.
	b.upsert(t, map[string]any{"braze_id": "new", "country": "ES"})
	b.waitSegments(t, map[string][]string{"new": {}})
}

func TestExportIdentifierKindsOmittedAndDeleted(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t,
		map[string]any{"email": "a@x.io", "country": "FR"},
		map[string]any{"email": "b@x.io", "country": "FR"},
		map[string]any{"braze_id": "no-email", "country": "FR"})
	auth := b.brazeAuth(t, "key-1", nil)
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true, "identifier_field": "email", "identifier_kind": "email", "flush_users": 1.0})
	poll.Until(t, 20*time.Second, "users sent by email", func() bool {
		_, a := b.sim.UserBy(brazesim.KindEmail, "a@x.io")
		_, c := b.sim.UserBy(brazesim.KindEmail, "b@x.io")
		return a && c
	})
	poll.Until(t, 20*time.Second, "omitted user counted", func() bool {
		// The job's runs open and close with its activity: count over all.
		runs, _ := b.jobs.Runs(ctx, b.acct, j.ID, 100)
		var omitted int64
		for _, r := range runs {
			omitted += r.Counters["omitted"]
		}
		return omitted >= 1
	})
	logs, _ := b.jobs.Logs(ctx, b.acct, j.ID, 20)
	found := false
	for _, l := range logs {
		found = found || (l.Code == "users_omitted" && bytes.Contains([]byte(l.Message), []byte(`no value in field "email"`)))
	}
	if !found {
		t.Fatalf("the omission and its reason are not in the log: %+v", logs)
	}
	// A deleted profile gets remove for every audience.
	p, err := b.prof.Lookup(ctx, b.acct, "email", "b@x.io")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.prof.Delete(ctx, b.acct, p.ID); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "deleted user's segments removed", func() bool {
		u, _ := b.sim.UserBy(brazesim.KindEmail, "b@x.io")
		segs, _ := u["lytics_segments"].([]any)
		return len(segs) == 0
	})
}

func TestExport401FailsTheJobWithoutRetryStorm(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{APIKeys: []string{"right-key"}})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	auth := b.brazeAuth(t, "wrong-key", nil)
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true})
	ctx := context.Background()
	poll.Until(t, 20*time.Second, "job failed", func() bool { jj, _ := b.jobs.Get(ctx, b.acct, j.ID); return jj.State == jobs.StateFailed })
	logs, _ := b.jobs.Logs(ctx, b.acct, j.ID, 10)
	if len(logs) == 0 || logs[0].Code != "braze_401" || !bytes.Contains([]byte(logs[0].Message), []byte("check the key and that the instance is the workspace's")) {
		t.Fatalf("log: %+v", logs)
	}
	n := b.sim.Stats().Requests
	time.Sleep(1500 * time.Millisecond) // a window in which a retry storm would show; nothing to wait on
	if m := b.sim.Stats().Requests; m != n || n > 2 {
		t.Fatalf("Braze got %d then %d requests after a 401", n, m)
	}
}

func TestExportPauseResumeAndAudienceChange(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.audience(t, "vip", `{"field":"tier","op":"eq","value":"gold"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR", "tier": "gold"}, map[string]any{"braze_id": "u2", "country": "FR"})
	auth := b.brazeAuth(t, "k", nil)
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr", "vip"), "existing_users": true, "flush_users": 1.0})
	b.waitSegments(t, map[string][]string{"u1": {"fr", "vip"}, "u2": {"fr"}})
	// Paused: changes stay in the change log.
	if _, err := b.jobs.Pause(ctx, b.acct, j.ID); err != nil {
		t.Fatal(err)
	}
	b.upsert(t, map[string]any{"braze_id": "u2", "tier": "gold"})
	time.Sleep(500 * time.Millisecond) // several pump ticks in which nothing may be sent; nothing to wait on
	if segs, _ := b.segments("u2"); !slices.Equal(segs, []string{"fr"}) {
		t.Fatalf("sent while paused: %v", segs)
	}
	b.jobs.Resume(ctx, b.acct, j.ID)
	b.waitSegments(t, map[string][]string{"u2": {"fr", "vip"}})
	// Dropping vip from the job removes it from its members.
	before, _ := b.jobs.Get(ctx, b.acct, j.ID)
	after, err := b.jobs.Update(ctx, b.acct, j.ID, jobs.Input{Config: map[string]any{"audiences": list("fr")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Changed(ctx, before, after); err != nil {
		t.Fatal(err)
	}
	b.waitSegments(t, map[string][]string{"u1": {"fr"}, "u2": {"fr"}})
	// Deleting the job stops it for good.
	del, _ := b.jobs.Delete(ctx, b.acct, j.ID)
	b.engine.Changed(ctx, after, del)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "DE"})
	time.Sleep(500 * time.Millisecond) // several pump ticks in which nothing may be sent; nothing to wait on
	if segs, _ := b.segments("u1"); !slices.Equal(segs, []string{"fr"}) {
		t.Fatalf("deleted job still sends: %v", segs)
	}
}

// TestExportWaitsForItsAudienceEvaluation: an export created while its new
// rule audience has not yet taken in the existing profiles backfills no
// one; the members the evaluation adds afterwards are sent at once, in the
// job's first run, not held as changes for flush_interval_seconds.
func TestExportWaitsForItsAudienceEvaluation(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	// Created with u1 already there: u1 joins when the audience is evaluated.
	if _, err := b.aud.Create(ctx, b.acct, audiences.Audience{Slug: "fr", Name: "fr", Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	j := b.startJob(t, b.brazeAuth(t, "k", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	state := fmt.Sprintf("bs:{%s}:export:%s:state", b.acct, j.ID)
	poll.Until(t, 20*time.Second, "the backfill of the empty audience to end", func() bool {
		v, err := b.rdb.HGet(ctx, state, "bf_pending").Result()
		return err == nil && v == "0"
	})
	b.evaluate(t, "fr")
	b.waitSegments(t, map[string][]string{"u1": {"fr"}})
	var runs []jobs.Run
	poll.Until(t, 20*time.Second, "u1 counted sent", func() bool {
		var err error
		if runs, err = b.jobs.Runs(ctx, b.acct, j.ID, 10); err != nil {
			t.Fatal(err)
		}
		return len(runs) > 0 && runs[0].Counters["sent"] == 1
	})
	if len(runs) != 1 || runs[0].Trigger != "create" {
		t.Fatalf("runs %+v: want u1 sent in the job's first run", runs)
	}
}

package demo_test

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/demo"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TestDemoIsMadeOnceAndFollowsTheSimulator: a second start finds the demo
// authorization and job instead of making them again, and points the
// authorization at the simulator's new address; the first start queues
// the job's first run in the export queue.
func TestDemoIsMadeOnceAndFollowsTheSimulator(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t) // Asynq's keys are global
	ns := keyspace.Namespace("bs")
	ctx := context.Background()
	box, err := secrets.NewBox(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	// The simulator is on loopback, as under `brazesync dev`.
	loopback := egress.New(netip.MustParsePrefix("127.0.0.0/8"))
	auths := authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopback})))
	js := jobs.New(rdb, ns, auths, nil)
	aud := audiences.New(rdb, ns, nil, audiences.Options{})
	prof := profiles.New(rdb, ns, aud, profiles.Options{})
	aud.UseProfiles(prof)
	engine := export.New(rdb, ns, js, auths, prof, aud, changelog.New(rdb, ns, changelog.Options{}), ratelimit.New(rdb, ns), export.Options{AllowInsecure: true, AllowCustomEndpoints: true})
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = client.Close() })
	types, err := jobtype.NewRegistry(engine.JobType(export.TypeOptions{AudienceExists: aud.Exists, Enqueuer: client}))
	if err != nil {
		t.Fatal(err)
	}
	for _, jt := range types.JobTypes() {
		js.AddType(jt)
	}
	d := &demo.Demo{Accounts: accounts.New(rdb, ns, nil), Authorizations: auths, Audiences: aud, Jobs: js, Types: types, Enqueuer: client}

	auth1, err := d.BrazeAuthorization(ctx, "http://127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	job1, err := d.ExportJob(ctx, auth1)
	if err != nil {
		t.Fatal(err)
	}
	auth2, err := d.BrazeAuthorization(ctx, "http://127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}
	job2, err := d.ExportJob(ctx, auth2)
	if err != nil || auth2 != auth1 || job2 != job1 {
		t.Fatalf("second start: authorization %s (first %s), job %s (first %s), err %v", auth2, auth1, job2, job1, err)
	}
	au, err := auths.Get(ctx, demo.Account, auth1)
	if err != nil || au.Config["rest_endpoint"] != "http://127.0.0.1:9002" {
		t.Fatalf("the demo authorization does not follow the simulator: %v %v", au, err)
	}
	j, err := js.Get(ctx, demo.Account, job1)
	if err != nil || j.Type != export.TypeName || j.Label != demo.JobLabel {
		t.Fatalf("demo job %+v %v", j, err)
	}
	pending, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.QueueExport)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, p := range pending {
		if p.Type == tasks.TypeJobRun {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("%d runs of the demo job queued, want 1 (the first start's)", runs)
	}
}

package audiences_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// withStore is the audiences service hooked to a real profiles store, as
// cmd/brazesync wires them, and the change log, on a fresh namespace.
type withStore struct {
	rdb   *redis.Client
	ns    keyspace.Namespace
	clock *testClock
	svc   *audiences.Service
	ps    *profiles.Store
	log   *changelog.Log
}

func newWithStore(t *testing.T, chunk int) withStore {
	t.Helper()
	rdb, ns := redistest.Client(t)
	clock := &testClock{t: time.Now().UTC()}
	svc := audiences.New(rdb, ns, nil, audiences.Options{Clock: clock.Now, ChunkSize: chunk})
	ps := profiles.New(rdb, ns, svc, profiles.Options{Now: clock.Now})
	svc.UseProfiles(ps)
	return withStore{rdb: rdb, ns: ns, clock: clock, svc: svc, ps: ps, log: changelog.New(rdb, ns, changelog.Options{})}
}

// TestWithProfilesStore runs the audiences against the real profiles store:
// upserts, merges and deletes reach the audiences through the change hook.
func TestWithProfilesStore(t *testing.T) {
	t.Parallel()
	w := newWithStore(t, 2)
	svc, ps, log := w.svc, w.ps, w.log
	ctx := context.Background()

	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "vip", Kind: audiences.KindList}); err != nil {
		t.Fatal(err)
	}
	upsert := func(fields map[string]string) {
		t.Helper()
		res, err := ps.Upsert(ctx, acct, "web", []profiles.Record{profiles.StringRecord(fields, time.Time{})})
		if err != nil || res.Applied != 1 {
			t.Fatalf("upsert %v: %+v %v", fields, res, err)
		}
	}
	id := func(field, value string) string {
		t.Helper()
		pid, err := ps.Resolve(ctx, acct, map[string]string{field: value})
		if err != nil {
			t.Fatalf("resolve %s=%s: %v", field, value, err)
		}
		return pid
	}
	upsert(map[string]string{"email": "a@x.io", "country": "FR"})
	upsert(map[string]string{"email": "b@x.io", "country": "DE"})
	upsert(map[string]string{"external_id": "u3", "country": "FR"})
	a, bb, u3 := id("email", "a@x.io"), id("email", "b@x.io"), id("external_id", "u3")
	mustAudiences(t, svc, a, "fr", "lytics_all", "lytics_known", "lytics_new")
	mustAudiences(t, svc, bb, "lytics_all", "lytics_known", "lytics_new")

	upsert(map[string]string{"email": "b@x.io", "country": "FR"})
	mustAudiences(t, svc, bb, "fr", "lytics_all", "lytics_known", "lytics_new")

	// List members: an unknown identity gets a profile through the store.
	counts, err := svc.UpdateMembers(ctx, acct, "vip", []audiences.Identity{{"email": "a@x.io"}, {"email": "new@x.io"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Added != 2 || counts.Created != 1 {
		t.Fatalf("counts %+v, want 2 added, 1 created", counts)
	}
	created := id("email", "new@x.io")
	mustAudiences(t, svc, created, "lytics_all", "lytics_known", "lytics_new", "vip")

	// A record joining a@x.io and u3 merges the two profiles.
	upsert(map[string]string{"email": "a@x.io", "external_id": "u3"})
	survivor := id("email", "a@x.io")
	loser := a
	if survivor == a {
		loser = u3
	}
	mustAudiences(t, svc, loser)
	mustAudiences(t, svc, survivor, "fr", "lytics_all", "lytics_known", "lytics_new", "vip")

	// A deleted profile exits everything.
	if err := ps.Delete(ctx, acct, created); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, created)
	members, _, _ := svc.Members(ctx, acct, "vip", "", 10)
	if slices.Contains(members, created) {
		t.Fatalf("vip still holds deleted profile %s: %v", created, members)
	}
	entries, err := log.Range(ctx, acct, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var exits []string
	for _, e := range entries {
		if e.Op == changelog.OpExit && (e.ProfileID == loser || e.ProfileID == created) {
			exits = append(exits, e.Audience+" "+e.ProfileID)
		}
	}
	for _, want := range []string{"lytics_all " + loser, "vip " + created, "lytics_all " + created} {
		if !slices.Contains(exits, want) {
			t.Errorf("log lacks exit %q (exits: %v)", want, exits)
		}
	}

	// A new rule audience is filled by re-evaluation over the store's Scan.
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "known-fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"and":[{"field":"country","op":"eq","value":"FR"},{"field":"identities.email","op":"exists"}]}`)}); err != nil {
		t.Fatal(err)
	}
	cursor, total := "", audiences.Counts{}
	for range 20 {
		next, done, c, err := svc.ReevaluateChunk(ctx, acct, "known-fr", cursor)
		if err != nil {
			t.Fatal(err)
		}
		total.Profiles += c.Profiles
		total.Entered += c.Entered
		if done {
			break
		}
		cursor = next
	}
	if total.Profiles != 2 || total.Entered != 2 {
		t.Fatalf("re-evaluation %+v, want 2 profiles scanned and entered (a/u3 merged, b)", total)
	}
}

// TestCreatedProfilesEnterInTheirWrite: profiles an upsert creates get their
// audiences in the same transaction, with one change-log entry each, and
// later changes diff against what that wrote.
func TestCreatedProfilesEnterInTheirWrite(t *testing.T) {
	t.Parallel()
	w := newWithStore(t, 0)
	rdb, ns, svc, ps, log, clock := w.rdb, w.ns, w.svc, w.ps, w.log, w.clock
	ctx := context.Background()
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	old := clock.Now().Add(-30 * 24 * time.Hour)
	res, err := ps.Upsert(ctx, acct, "web", []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "new@x.io", "country": "FR"}, time.Time{}),
		profiles.StringRecord(map[string]string{"cookie_id": "c1", "external_id": "", "braze_id": "b1"}, old),
		profiles.StringRecord(map[string]string{"email": "twin@x.io", "country": "FR"}, time.Time{}),
	})
	if err != nil || res.Applied != 3 {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	fresh, err := ps.Resolve(ctx, acct, map[string]string{"email": "new@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	twin, err := ps.Resolve(ctx, acct, map[string]string{"email": "twin@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ps.Resolve(ctx, acct, map[string]string{"braze_id": "b1"})
	if err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, fresh, "fr", "lytics_all", "lytics_known", "lytics_new")
	mustAudiences(t, svc, other, "lytics_all", "lytics_known")
	for _, slug := range []string{"fr", "lytics_all", "lytics_known", "lytics_new"} {
		members, _, err := svc.Members(ctx, acct, slug, "", 10)
		if err != nil || !slices.Contains(members, fresh) {
			t.Errorf("members of %s = %v, %v; want %s among them", slug, members, err, fresh)
		}
	}
	mustAudiences(t, svc, twin, "fr", "lytics_all", "lytics_known", "lytics_new")
	if n, _ := rdb.XLen(ctx, changelog.StreamKey(ns, acct)).Result(); n != 2 {
		t.Errorf("change log holds %d stream entries, want 2 (one per set of audiences entered)", n)
	}
	entries, err := log.Range(ctx, acct, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, string(e.Op)+" "+e.Audience+" "+e.ProfileID)
	}
	want := []string{
		"enter fr " + fresh, "enter lytics_all " + fresh, "enter lytics_known " + fresh, "enter lytics_new " + fresh,
		"enter fr " + twin, "enter lytics_all " + twin, "enter lytics_known " + twin, "enter lytics_new " + twin,
		"enter lytics_all " + other, "enter lytics_known " + other,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	// The next write of an unchanged profile logs nothing; one that leaves
	// fr exits it.
	res, err = ps.Upsert(ctx, acct, "web", []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "new@x.io", "city": "Lyon"}, time.Time{}),
	})
	if err != nil || res.Applied != 1 {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	if n, _ := rdb.XLen(ctx, changelog.StreamKey(ns, acct)).Result(); n != 2 {
		t.Errorf("an update that changes no membership logged %d entries", n-2)
	}
	clock.Add(time.Second)
	res, err = ps.Upsert(ctx, acct, "web", []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "new@x.io", "country": "DE"}, time.Time{}),
	})
	if err != nil || res.Applied != 1 {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	mustAudiences(t, svc, fresh, "lytics_all", "lytics_known", "lytics_new")
}

// TestCreationSeesDefinitionsOfAnotherProcess: a batch whose cached audience
// definitions are older than the version it watched is resolved again, so new
// profiles enter the audiences as they are now.
func TestCreationSeesDefinitionsOfAnotherProcess(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	writer := audiences.New(rdb, ns, nil, audiences.Options{})
	reader := audiences.New(rdb, ns, nil, audiences.Options{})
	ps := profiles.New(rdb, ns, reader, profiles.Options{})
	reader.UseProfiles(ps)
	// The reader caches the definitions before the other process adds one.
	if _, err := ps.Upsert(ctx, acct, "web", []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "first@x.io"}, time.Time{}),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Create(ctx, acct, audiences.Audience{Slug: "fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Upsert(ctx, acct, "web", []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "second@x.io", "country": "FR"}, time.Time{}),
	}); err != nil {
		t.Fatal(err)
	}
	id, err := ps.Resolve(ctx, acct, map[string]string{"email": "second@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, reader, id, "fr", "lytics_all", "lytics_known", "lytics_new")
}

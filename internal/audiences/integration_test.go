package audiences_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestWithProfilesStore runs the audiences against the real profiles store:
// upserts, merges and deletes reach the audiences through the change hook.
func TestWithProfilesStore(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	clock := &testClock{t: time.Now().UTC()}
	svc := audiences.New(rdb, ns, nil, audiences.Options{Clock: clock.Now, ChunkSize: 2})
	ps := profiles.New(rdb, ns, svc, profiles.Options{Now: clock.Now})
	svc.UseProfiles(ps)
	log := changelog.New(rdb, ns, changelog.Options{})
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

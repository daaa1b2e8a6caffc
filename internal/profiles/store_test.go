package profiles_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a ChangeHook that keeps every change.
type recorder struct {
	mu      sync.Mutex
	changes []profiles.Change
	err     error
}

func (r *recorder) ProfilesChanged(_ context.Context, _ string, changes []profiles.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, changes...)
	return r.err
}

func (r *recorder) all() []profiles.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]profiles.Change(nil), r.changes...)
}

type bundle struct {
	rdb  *redis.Client
	hook *recorder
	acct string
}

func setup(t *testing.T) (*profiles.Store, *bundle) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	hook := &recorder{}
	s := profiles.New(rdb, ns, hook, profiles.Options{})
	return s, &bundle{rdb: rdb, hook: hook, acct: "acct-" + redistest.RandomID()}
}

func upsert(t *testing.T, s *profiles.Store, acct, stream string, recs ...profiles.Record) profiles.Result {
	t.Helper()
	res, err := s.Upsert(context.Background(), acct, stream, recs)
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	return res
}

func rec(t time.Time, fields map[string]any) profiles.Record {
	return profiles.Record{Fields: fields, EventTime: t}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestUpsertBrazeSampleMapsAndTypes(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	res := upsert(t, s, b.acct, profiles.BrazeUsersStream, rec(t0, map[string]any{
		"city": "Bangkok", "country": "TH", "first_name": "Ann", "gender": "F",
		"language": "th", "last_name": "Lee", "date_of_birth": "19820101",
		"phone_number": "+66 1234", "time_zone": "GMT+7", "twitter_handle": "@ann",
		"email": " Ann@Example.COM ", "braze_id": "b-1", "custom_score": 4.5, "vip": true,
		"tags": []any{"a", "b"},
	}))
	if res.Applied != 1 || len(res.Rejected) != 0 {
		t.Fatalf("result = %+v, want 1 applied", res)
	}
	p, err := s.Lookup(ctx, b.acct, "email", "ann@example.com")
	if err != nil {
		t.Fatalf("Lookup by email: %v", err)
	}
	want := map[string]any{
		"city": "Bangkok", "first_name": "Ann", "phone": "+66 1234", "time_zone": "GMT+7",
		"tw_uid": "@ann", "email": "ann@example.com", "braze_id": "b-1",
		"birth_date": time.Date(1982, 1, 1, 0, 0, 0, 0, time.UTC), "custom_score": 4.5, "vip": true,
	}
	for k, v := range want {
		if got := p.Fields[k]; got != v {
			t.Errorf("field %s = %#v (%T), want %#v", k, got, got, v)
		}
	}
	if tags, _ := p.Fields["tags"].([]string); len(tags) != 2 || tags[0] != "a" {
		t.Errorf("tags = %#v, want [a b]", p.Fields["tags"])
	}
	if _, ok := p.Fields["phone_number"]; ok {
		t.Errorf("phone_number kept under its source name; want only phone")
	}
	if got := p.Identities["braze_id"]; len(got) != 1 || got[0] != "b-1" {
		t.Errorf("identities braze_id = %v", got)
	}
	if !p.FirstSeen.Equal(t0) || !p.LastSeen.Equal(t0) {
		t.Errorf("first/last seen = %v/%v, want %v", p.FirstSeen, p.LastSeen, t0)
	}
	for _, id := range []struct{ f, v string }{{"braze_id", "b-1"}, {"tw_uid", "@ann"}} {
		q, err := s.Lookup(ctx, b.acct, id.f, id.v)
		if err != nil || q.ID != p.ID {
			t.Errorf("Lookup(%s=%s) = %v, %v; want profile %s", id.f, id.v, q, err, p.ID)
		}
	}
	if n, _ := s.Count(ctx, b.acct); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	ch := b.hook.all()
	if len(ch) != 1 || ch[0].Profile == nil || ch[0].ProfileID != p.ID {
		t.Errorf("hook changes = %+v, want one change of %s", ch, p.ID)
	}
}

func TestUpsertCSVHeaders(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	res := upsert(t, s, b.acct, profiles.BrazeUsersStream, profiles.StringRecord(map[string]string{
		"Appboy ID": "5f1", "user_id": "ext-9", "email": "c@x.io", "session_count": "12",
		"created_at": "2020-03-04T05:06:07Z", "timezone": "Europe/Paris", "Favourite Color": "red",
	}, t0))
	if res.Applied != 1 {
		t.Fatalf("result = %+v", res)
	}
	p, err := s.Lookup(context.Background(), b.acct, "external_id", "ext-9")
	if err != nil {
		t.Fatalf("Lookup by external_id: %v", err)
	}
	if p.Fields["braze_id"] != "5f1" || p.Fields["session_count"] != 12.0 || p.Fields["time_zone"] != "Europe/Paris" {
		t.Errorf("fields = %v", p.Fields)
	}
	if got := p.Fields["created_at"]; got != time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC) {
		t.Errorf("created_at = %#v", got)
	}
	if p.Fields["Favourite Color"] != "red" {
		t.Errorf("unmapped CSV column not kept under its own name: %v", p.Fields)
	}
}

func TestUpsertRejects(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	res := upsert(t, s, b.acct, profiles.BrazeUsersStream,
		rec(t0, map[string]any{"first_name": "no identity"}),
		rec(t0, map[string]any{"email": "ok@x.io", "session_count": "many"}),
		rec(t0, map[string]any{"email": "ok2@x.io", "date_of_birth": "yesterday"}),
		rec(t0, map[string]any{"email": map[string]any{"x": 1}}),
		rec(t0, map[string]any{"email": "good@x.io", "date_of_birth": ""}),
		rec(t0, map[string]any{}),
	)
	if res.Applied != 1 {
		t.Errorf("applied = %d, want 1", res.Applied)
	}
	wantIdx := []int{0, 1, 2, 3, 5}
	if len(res.Rejected) != len(wantIdx) {
		t.Fatalf("rejected = %+v, want indexes %v", res.Rejected, wantIdx)
	}
	for i, r := range res.Rejected {
		if r.Index != wantIdx[i] || r.Reason == "" {
			t.Errorf("rejection %d = %+v, want index %d with a reason", i, r, wantIdx[i])
		}
	}
	if n, _ := s.Count(context.Background(), b.acct); n != 1 {
		t.Errorf("Count = %d, want 1 (rejected records write nothing)", n)
	}
}

func TestNewestEventWinsPerField(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	t1, t2, t3 := t0, t0.Add(time.Hour), t0.Add(2*time.Hour)
	upsert(t, s, b.acct, "web", rec(t2, map[string]any{"email": "a@x.io", "city": "Paris", "plan": "gold"}))
	// Older event: fills the missing field, loses the conflicting one.
	upsert(t, s, b.acct, "web", rec(t1, map[string]any{"email": "a@x.io", "city": "Lyon", "age": 30}))
	// Newer event for one field only.
	upsert(t, s, b.acct, "web", rec(t3, map[string]any{"email": "a@x.io", "plan": "silver"}))
	p, err := s.Lookup(ctx, b.acct, "email", "a@x.io")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["city"] != "Paris" || p.Fields["age"] != 30.0 || p.Fields["plan"] != "silver" {
		t.Errorf("fields = %v, want city Paris (newer), age 30 (only value), plan silver (newest)", p.Fields)
	}
	if !p.FieldTimes["city"].Equal(t2) || !p.FieldTimes["plan"].Equal(t3) || !p.FieldTimes["age"].Equal(t1) {
		t.Errorf("field times = %v", p.FieldTimes)
	}
	if !p.FirstSeen.Equal(t1) || !p.LastSeen.Equal(t3) {
		t.Errorf("first/last seen = %v/%v, want %v/%v", p.FirstSeen, p.LastSeen, t1, t3)
	}
}

func TestTimestampFieldOfStream(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	m := profiles.DefaultMapping("events")
	m.TimestampField = "ts"
	if err := s.SetMapping(ctx, b.acct, "events", m); err != nil {
		t.Fatal(err)
	}
	upsert(t, s, b.acct, "events",
		profiles.Record{Fields: map[string]any{"email": "t@x.io", "city": "New", "ts": "2026-05-01T00:00:00Z"}},
		profiles.Record{Fields: map[string]any{"email": "t@x.io", "city": "Old", "ts": 1700000000.0}},
	)
	p, err := s.Lookup(ctx, b.acct, "email", "t@x.io")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["city"] != "New" {
		t.Errorf("city = %v, want New (its ts field is newer although it arrived first)", p.Fields["city"])
	}
	if !p.FirstSeen.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("first seen = %v, want the older ts", p.FirstSeen)
	}
}

func TestMergeOlderSurvives(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	upsert(t, s, b.acct, "web", rec(t0, map[string]any{"email": "m@x.io", "city": "Oslo", "a": "1"}))
	upsert(t, s, b.acct, "web", rec(t0.Add(time.Minute), map[string]any{"external_id": "e-1", "city": "Rome", "b": "2"}))
	older, _ := s.Lookup(ctx, b.acct, "email", "m@x.io")
	newer, _ := s.Lookup(ctx, b.acct, "external_id", "e-1")
	if older == nil || newer == nil || older.ID == newer.ID {
		t.Fatalf("want two profiles before the merge, got %v and %v", older, newer)
	}
	before := len(b.hook.all())
	upsert(t, s, b.acct, "web", rec(t0.Add(-time.Minute), map[string]any{"email": "m@x.io", "external_id": "e-1", "c": "3", "city": "Old"}))

	p, err := s.Lookup(ctx, b.acct, "external_id", "e-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != older.ID {
		t.Errorf("survivor = %s, want the older profile %s", p.ID, older.ID)
	}
	if p.Fields["a"] != "1" || p.Fields["b"] != "2" || p.Fields["c"] != "3" || p.Fields["city"] != "Rome" {
		t.Errorf("merged fields = %v, want a, b, c and the newest city Rome", p.Fields)
	}
	if len(p.Identities["email"]) != 1 || len(p.Identities["external_id"]) != 1 {
		t.Errorf("identities = %v", p.Identities)
	}
	if !p.FirstSeen.Equal(t0.Add(-time.Minute)) || !p.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("first/last seen = %v/%v", p.FirstSeen, p.LastSeen)
	}
	if n, _ := s.Count(ctx, b.acct); n != 1 {
		t.Errorf("Count = %d after merge, want 1", n)
	}
	// The merged-away id redirects to the survivor.
	if q, err := s.Get(ctx, b.acct, newer.ID); err != nil || q.ID != older.ID {
		t.Errorf("Get(merged id) = %v, %v; want survivor", q, err)
	}
	changes := b.hook.all()[before:]
	var sawMerge, sawSurvivor bool
	for _, c := range changes {
		if c.ProfileID == newer.ID && c.MergedInto == older.ID && c.Profile == nil {
			sawMerge = true
		}
		if c.ProfileID == older.ID && c.Profile != nil && c.Profile.Fields["b"] == "2" {
			sawSurvivor = true
		}
	}
	if !sawMerge || !sawSurvivor {
		t.Errorf("changes = %+v, want the merged-away profile with MergedInto and the re-read survivor", changes)
	}
	n, err := b.rdb.XLen(ctx, mergeLogKey(t, s, b)).Result()
	if err != nil || n != 1 {
		t.Errorf("merge log length = %d, %v; want 1", n, err)
	}
}

func TestMergeThreeWithinOneBatch(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	res := upsert(t, s, b.acct, "web",
		rec(t0, map[string]any{"email": "1@x.io"}),
		rec(t0, map[string]any{"external_id": "2"}),
		rec(t0, map[string]any{"braze_id": "3"}),
		rec(t0, map[string]any{"braze_id": "3", "external_id": "2", "email": "1@x.io"}),
	)
	if res.Applied != 4 {
		t.Fatalf("result = %+v", res)
	}
	if n, _ := s.Count(ctx, b.acct); n != 1 {
		t.Fatalf("Count = %d, want 1 after the merge", n)
	}
	p, _ := s.Lookup(ctx, b.acct, "braze_id", "3")
	q, _ := s.Lookup(ctx, b.acct, "email", "1@x.io")
	if p == nil || q == nil || p.ID != q.ID || p.ID != "1" {
		t.Errorf("lookups give %v and %v, want the first profile (id 1)", p, q)
	}
	merged := 0
	for _, c := range b.hook.all() {
		if c.MergedInto != "" {
			merged++
			if c.MergedInto != "1" {
				t.Errorf("change %+v: want MergedInto 1", c)
			}
		}
	}
	if merged != 2 {
		t.Errorf("merged changes = %d, want 2", merged)
	}
}

func TestResolveAndNotFound(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	upsert(t, s, b.acct, "web", rec(t0, map[string]any{"email": "r@x.io"}))
	id, err := s.Resolve(ctx, b.acct, map[string]string{"email": "R@X.io", "external_id": "nobody"})
	if err != nil || id == "" {
		t.Fatalf("Resolve = %q, %v", id, err)
	}
	if _, err := s.Resolve(ctx, b.acct, map[string]string{"email": "nobody@x.io"}); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Resolve(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Lookup(ctx, b.acct, "city", "x"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Lookup(non-identity) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, b.acct, "999"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Get(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestDeleteForgetsIdentities(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	upsert(t, s, b.acct, "web", rec(t0, map[string]any{"email": "d@x.io", "external_id": "d1"}))
	p, err := s.Lookup(ctx, b.acct, "email", "d@x.io")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, b.acct, p.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Lookup(ctx, b.acct, "external_id", "d1"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Lookup after delete err = %v, want ErrNotFound", err)
	}
	if n, _ := s.Count(ctx, b.acct); n != 0 {
		t.Errorf("Count = %d after delete", n)
	}
	ch := b.hook.all()
	if last := ch[len(ch)-1]; last.ProfileID != p.ID || last.Profile != nil || last.MergedInto != "" {
		t.Errorf("last change = %+v, want a deletion of %s", last, p.ID)
	}
	if err := s.Delete(ctx, b.acct, p.ID); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("second Delete err = %v, want ErrNotFound", err)
	}
	// The same identity now makes a fresh profile.
	upsert(t, s, b.acct, "web", rec(t0, map[string]any{"email": "d@x.io"}))
	if q, err := s.Lookup(ctx, b.acct, "email", "d@x.io"); err != nil || q.ID == p.ID {
		t.Errorf("after delete, Lookup = %v, %v; want a new profile", q, err)
	}
}

func TestScanPagesEveryProfile(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	var recs []profiles.Record
	for i := range 250 {
		recs = append(recs, rec(t0, map[string]any{"external_id": i}))
	}
	upsert(t, s, b.acct, "web", recs...)
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("scan does not end")
		}
		ps, next, err := s.Scan(ctx, b.acct, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if seen[p.ID] {
				t.Errorf("profile %s seen twice", p.ID)
			}
			seen[p.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 250 {
		t.Errorf("scan saw %d profiles, want 250", len(seen))
	}
}

func TestConcurrentUpsertsOfOneIdentityMakeOneProfile(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Upsert(ctx, b.acct, "web", []profiles.Record{
				rec(t0.Add(time.Duration(i)*time.Second), map[string]any{"email": "same@x.io", "n": i}),
			})
			if err != nil {
				t.Errorf("Upsert: %v", err)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Count(ctx, b.acct); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	p, _ := s.Lookup(ctx, b.acct, "email", "same@x.io")
	if p == nil || p.Fields["n"] != 7.0 {
		t.Errorf("profile = %v, want n = 7 (newest event)", p)
	}
}

func TestHookErrorIsReturned(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	b.hook.err = errors.New("audiences down")
	_, err := s.Upsert(context.Background(), b.acct, "web", []profiles.Record{rec(t0, map[string]any{"email": "h@x.io"})})
	if err == nil || !errors.Is(err, b.hook.err) {
		t.Errorf("Upsert err = %v, want the hook's error", err)
	}
}

func mergeLogKey(t *testing.T, _ *profiles.Store, b *bundle) string {
	t.Helper()
	keys, err := b.rdb.Keys(context.Background(), "*{"+b.acct+"}:merges").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("merge log keys = %v, %v", keys, err)
	}
	return keys[0]
}

func TestLaterRecordWinsATieAcrossBatches(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := profiles.New(rdb, ns, nil, profiles.Options{BatchSize: 1})
	acct := "acct-" + redistest.RandomID()
	var recs []profiles.Record
	for i := range 20 {
		recs = append(recs, rec(t0, map[string]any{"email": "tie@x.io", "n": i}))
	}
	upsert(t, s, acct, "web", recs...)
	p, err := s.Lookup(context.Background(), acct, "email", "tie@x.io")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["n"] != 19.0 {
		t.Errorf("n = %v, want 19 (the last record of equal event time)", p.Fields["n"])
	}
}

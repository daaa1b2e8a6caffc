package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// BenchmarkPreviewMillionMembers previews the recheck of a job exporting
// lytics_all with 1,000,000 members on the test Redis (PREVIEW_BENCH_USERS
// changes the number): half of them Braze already has, one in a hundred
// has no identifier. It prints how long one preview took. On a 2-core
// machine busy with other work (load average 10), against a Redis of its
// own, one took 4.1 to 5.4 s, of which Redis spent about 1 s answering the
// MGETs of the identifiers and 0.5 s the HMGETs of the sent states:
//
//	redis-server --port 6391 --save '' &
//	REDIS_URL=redis://127.0.0.1:6391/0 go test -run '^$' -bench BenchmarkPreviewMillionMembers -benchtime 3x ./internal/export
func BenchmarkPreviewMillionMembers(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PREVIEW_BENCH_USERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	rdb, _ := redistest.DB(b)
	ns := keyspace.DefaultNamespace
	acct := "bench"
	aud := audiences.New(rdb, ns, nil, audiences.Options{})
	prof := profiles.New(rdb, ns, aud, profiles.Options{})
	aud.UseProfiles(prof)
	if _, err := aud.EnsureDefaults(ctx, acct); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const batch = 5000
	recs := make([]profiles.Record, 0, batch)
	for i := 1; i <= n; i++ {
		r := map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "first_name": "Ann", "country": "FR", "city": "Lyon", "plan": "gold"}
		if i%100 != 0 {
			r["braze_id"] = fmt.Sprintf("b%08d", i)
		}
		recs = append(recs, profiles.Record{Fields: r})
		if len(recs) == batch || i == n {
			if _, err := prof.Upsert(ctx, acct, "braze_users", recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	auths := authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true})))
	label := "braze"
	a, _, err := auths.Create(ctx, acct, authorizations.Input{Type: "braze", Label: &label, Config: map[string]any{"rest_endpoint": "https://rest.iad-01.braze.com"}, Secrets: map[string]string{"api_key": "k"}})
	if err != nil {
		b.Fatal(err)
	}
	js := jobs.New(rdb, ns, auths, nil)
	e := New(rdb, ns, js, auths, prof, aud, changelog.New(rdb, ns, changelog.Options{}), ratelimit.New(rdb, ns), Options{})
	js.AddType(jobs.Type{Name: TypeName, AuthorizationTypes: []string{"braze"}})
	j, err := js.Create(ctx, acct, jobs.Input{Type: TypeName, Label: &label, AuthorizationID: &a.ID, Config: map[string]any{"audiences": []any{"lytics_all"}}})
	if err != nil {
		b.Fatal(err)
	}
	// Braze has every other user already.
	pipe := rdb.Pipeline()
	now := time.Now().UnixMilli()
	for i := 2; i <= n; i += 2 {
		if i%100 != 0 {
			pipe.HSet(ctx, e.k.sent(acct, j.ID), strconv.Itoa(i), fmt.Sprintf("external_id=b%08d%slytics_all%s%d", i, stateSep, acceptedTag, now))
		}
		if pipe.Len() == 10000 || i+2 > n {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := e.Recheck(ctx, j); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d profiles set up in %s", n, time.Since(start).Round(time.Second))
	b.ResetTimer()
	var p *Preview
	for b.Loop() {
		t0 := time.Now()
		if p, err = e.PreviewJob(ctx, j); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("preview of %d members: %.2f s\n", n, time.Since(t0).Seconds())
	}
	unchanged := int64(n/2 - n/100)
	if p.UsersUnchanged != unchanged || p.Objects != int64(n-n/100)-unchanged || p.UsersOmitted.Total != int64(n/100) {
		b.Fatalf("preview: %+v; want %d users unchanged, %d sent and %d omitted", *p, unchanged, int64(n-n/100)-unchanged, n/100)
	}
	b.Logf("preview: %+v", *p)
}

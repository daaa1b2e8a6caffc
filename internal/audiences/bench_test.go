package audiences_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

func bbStream(ns keyspace.Namespace) string { return changelog.StreamKey(ns, acct) }

// benchRules are typical rule audiences evaluated besides the built-ins.
var benchRules = map[string]string{
	"fr":       `{"field":"country","op":"eq","value":"FR"}`,
	"eu":       `{"field":"country","op":"in","value":["FR","DE","ES","IT","NL"]}`,
	"gold":     `{"and":[{"field":"plan","op":"eq","value":"gold"},{"field":"score","op":"gte","value":50}]}`,
	"active":   `{"field":"last_seen","op":"within_last","days":7}`,
	"gmail":    `{"field":"identities.email","op":"contains","value":"gmail"}`,
	"no-phone": `{"field":"phone","op":"missing"}`,
	"tagged":   `{"or":[{"field":"tags","op":"contains","value":"vip"},{"not":{"field":"score","op":"lt","value":90}}]}`,
}

// BenchmarkProfilesChanged1000 evaluates 10 rule audiences (7 + 3 built-ins)
// against a batch of 1,000 changed profiles and records membership, with
// every profile changing some memberships on every batch ("churn") or none
// ("steady").
func BenchmarkProfilesChanged1000(b *testing.B) {
	for _, mode := range []string{"steady", "churn"} {
		b.Run(mode, func(b *testing.B) {
			svc, bb := setup(b, 0)
			ctx := context.Background()
			for slug, rule := range benchRules {
				if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: slug, Kind: audiences.KindRule, Rule: json.RawMessage(rule)}); err != nil {
					b.Fatal(err)
				}
			}
			now := bb.clock.Now()
			batches := [2][]profiles.Change{}
			for v := range 2 {
				for i := range 1000 {
					country, plan := "FR", "gold"
					if mode == "churn" && v == 1 {
						country, plan = "US", "free"
					}
					p := profiles.Profile{
						ID: strconv.Itoa(i + 1),
						Fields: map[string]any{
							"country": country, "plan": plan, "score": float64(i % 100),
							"tags": []string{"a", "vip"}, "name": "Someone",
						},
						Identities: map[string][]string{"email": {fmt.Sprintf("u%d@gmail.com", i)}},
						FirstSeen:  now.Add(-time.Duration(i) * time.Hour),
						LastSeen:   now,
					}
					batches[v] = append(batches[v], profiles.Change{ProfileID: p.ID, Profile: &p})
				}
			}
			if err := svc.ProfilesChanged(ctx, acct, batches[0]); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := svc.ProfilesChanged(ctx, acct, batches[i%2]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "profiles/s")
			// Keep the change log from growing across runs.
			bb.rdb.Del(ctx, bbStream(bb.ns))
		})
	}
}

// BenchmarkUpsertWithAudiences1000 upserts 1,000 records through the real
// profiles store with the audiences as its change hook (10 rule audiences),
// alternating the country so that a third of the records change "fr" and
// "eu" membership every time: the whole hot write path.
func BenchmarkUpsertWithAudiences1000(b *testing.B) {
	rdb, ns := redistest.Client(b)
	svc := audiences.New(rdb, ns, nil, audiences.Options{})
	hook := &timedHook{h: svc}
	ps := profiles.New(rdb, ns, hook, profiles.Options{})
	svc.UseProfiles(ps)
	ctx := context.Background()
	for slug, rule := range benchRules {
		if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: slug, Kind: audiences.KindRule, Rule: json.RawMessage(rule)}); err != nil {
			b.Fatal(err)
		}
	}
	batches := [2][]profiles.Record{}
	for v := range 2 {
		for i := range 1000 {
			country := "FR"
			if v == 1 && i%3 == 0 {
				country = "US"
			}
			batches[v] = append(batches[v], profiles.StringRecord(map[string]string{
				"email": fmt.Sprintf("u%d@gmail.com", i), "country": country, "plan": "gold", "score": "70",
			}, time.Time{}))
		}
	}
	if _, err := ps.Upsert(ctx, acct, "web", batches[0]); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ps.Upsert(ctx, acct, "web", batches[i%2]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(hook.total.Load())/1e6/float64(b.N), "hook-ms/op")
	rdb.Del(ctx, bbStream(ns))
}

// timedHook sums the time spent in the audiences hook.
type timedHook struct {
	h     profiles.ChangeHook
	total atomic.Int64
}

func (t *timedHook) ProfilesChanged(ctx context.Context, acct string, cs []profiles.Change) error {
	start := time.Now()
	err := t.h.ProfilesChanged(ctx, acct, cs)
	t.total.Add(int64(time.Since(start)))
	return err
}

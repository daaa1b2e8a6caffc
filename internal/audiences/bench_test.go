package audiences_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/profiles"
)

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
						ID: fmt.Sprintf("p%07d", i),
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
			bb.rdb.Del(ctx, bb.ns.Account(acct, "changelog"))
		})
	}
}

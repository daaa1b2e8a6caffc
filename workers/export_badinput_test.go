package workers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// TestExportJobRejectsBadInput checks that the job layer refuses an export
// job whose audiences or authorization are wrong, naming the field.
func TestExportJobRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := setupStores(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	braze := b.brazeAuth(t, "k", nil)
	label := "other"
	other, _, err := b.auths.Create(ctx, b.acct, authorizations.Input{Type: "webhook", Label: &label, Config: map[string]any{"url": "https://example.com"}, Secrets: map[string]string{"token": "t"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		config     map[string]any
		field, msg string
	}{
		{"unknown audience", braze, map[string]any{"audiences": list("fr", "nope")}, "config.audiences[1]", `audience "nope" does not exist`},
		{"empty audience list", braze, map[string]any{"audiences": list()}, "config.audiences", "at least one audience"},
		{"no audiences", braze, map[string]any{}, "config.audiences", "is required"},
		{"one audience as a string", braze, map[string]any{"audiences": "fr"}, "config.audiences", `must be a list of audience slugs, such as ["lytics_all"], not a string`},
		{"unknown authorization", "au_nope", map[string]any{"audiences": list("fr")}, "authorization_id", "is not an authorization of this account"},
		{"authorization of the wrong type", other.ID, map[string]any{"audiences": list("fr")}, "authorization_id", "is a webhook authorization"},
		{"user alias without label", braze, map[string]any{"audiences": list("fr"), "identifier_kind": "user_alias"}, "config.alias_label", "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label := "export"
			_, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &tc.auth, Config: tc.config})
			var ve *fault.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(ve.Message, tc.msg) {
				t.Fatalf("got %v, want a validation error of %s saying %q", err, tc.field, tc.msg)
			}
		})
	}
}

// TestExportIdentifierFieldNoProfileHas runs a job whose identifier field
// no profile has: it runs, sends nothing and omits every member with the
// reason.
func TestExportIdentifierFieldNoProfileHas(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	recs := make([]map[string]any, 30)
	for i := range recs {
		recs[i] = map[string]any{"braze_id": fmt.Sprintf("u%02d", i), "country": "FR"}
	}
	b.upsert(t, recs...)
	j := b.startJob(t, b.brazeAuth(t, "k", nil), map[string]any{"audiences": list("fr"), "existing_users": true, "identifier_field": "crm_id"})
	poll.Until(t, 20*time.Second, "every member omitted", func() bool {
		// The job's runs open and close with its activity: count over all.
		runs, _ := b.jobs.Runs(ctx, b.acct, j.ID, 100)
		var omitted int64
		for _, r := range runs {
			omitted += r.Counters["omitted"]
		}
		return omitted >= 30
	})
	cur, _ := b.jobs.Get(ctx, b.acct, j.ID)
	if cur.State != jobs.StateRunning {
		t.Fatalf("job state %s, want running", cur.State)
	}
	if n := b.sim.Stats().Requests; n != 0 {
		t.Fatalf("Braze got %d requests", n)
	}
	logs, _ := b.jobs.Logs(ctx, b.acct, j.ID, 50)
	var omitted int64
	for _, l := range logs {
		if l.Code == "users_omitted" {
			if !strings.Contains(l.Message, `no value in field "crm_id"`) {
				t.Fatalf("omission without its reason: %q", l.Message)
			}
			omitted += l.Counters["omitted"]
		}
	}
	if omitted != 30 {
		t.Fatalf("the log counts %d omitted users, want 30: %+v", omitted, logs)
	}
}

// TestExportMetrics checks the engine's Prometheus counters: Braze requests
// by status and rate-limit waits.
func TestExportMetrics(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{Faults: brazesim.Faults{RateLimitRate: 0.3}, RateWindow: time.Second, RateLimit: 1000})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	recs := make([]map[string]any, 600)
	want := map[string][]string{}
	for i := range recs {
		recs[i] = map[string]any{"braze_id": fmt.Sprintf("u%03d", i), "country": "FR"}
		want[fmt.Sprintf("u%03d", i)] = []string{"fr"}
	}
	b.upsert(t, recs...)
	b.startJob(t, b.brazeAuth(t, "k", map[string]any{"rate_limit": 1000, "rate_limit_window_seconds": 1}), map[string]any{"audiences": list("fr"), "existing_users": true})
	b.waitSegments(t, want)
	// The last batch is counted just after Braze has it.
	var got map[string]float64
	poll.Until(t, 20*time.Second, "every user counted as sent", func() bool {
		got = gather(t, b)
		return got[`brazesync_export_users_total{outcome="sent"}`] >= 600
	})
	st := b.sim.Stats()
	if got[`brazesync_braze_requests_total{status="201"}`] == 0 || got[`brazesync_braze_requests_total{status="429"}`] != float64(st.RateLimited) {
		t.Fatalf("requests by status %v; the simulator answered %d with 429", got, st.RateLimited)
	}
	if got["brazesync_braze_rate_limit_waits_total"] == 0 || got[`brazesync_export_users_total{outcome="sent"}`] != 600 {
		t.Fatalf("waits and users: %v", got)
	}
}

// gather reads the engine's counters as "name{label=\"value\"}" -> value.
func gather(t *testing.T, b *exportBundle) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	mfs, err := b.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				var parts []string
				for _, l := range ls {
					parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			got[key] += m.GetCounter().GetValue()
		}
	}
	return got
}

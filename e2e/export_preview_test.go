package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// simAgrees fails unless requests, objects and data points the simulator
// counted for key since before are the preview's.
func simAgrees(t *testing.T, what string, preview, before, after J) {
	t.Helper()
	for _, k := range []string{"requests", "objects", "data_points"} {
		if got := after.Num(k) - before.Num(k); got != preview.Num(k) {
			t.Errorf("%s: the simulator counted %v %s, the preview said %v (preview %s)", what, got, k, preview.Num(k), jsonString(preview))
		}
	}
}

// TestExportPreviewAgreesWithTheSimulator: a preview of a job not created
// yet, and of a job's next run, says exactly what the run then sends
// (requests, objects and data points as the simulator counts them), and a
// trace shows a sent user with what Braze accepted and an omitted user
// with its reason.
func TestExportPreviewAgreesWithTheSimulator(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, key := a.BrazeAuth(t)
		a.Call(t, "PATCH", "/authorizations/"+auth, map[string]any{"config": map[string]any{"batch_size": 10}}).Expect(t, 200)
		prefix := "p" + randomHex(4) + "-"
		var recs []map[string]any
		for i := range 40 {
			country := "FR"
			if i >= 30 {
				country = "DE"
			}
			recs = append(recs, map[string]any{"external_id": fmt.Sprintf("%s%d", prefix, i), "country": country})
		}
		omitted := prefix + "noid@example.com"
		recs = append(recs, map[string]any{"email": omitted, "country": "FR"})
		a.Call(t, "POST", "/profiles?stream=braze_users", recs).Expect(t, 200)
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "fr", "name": "France", "kind": "rule",
			"rule": map[string]any{"field": "country", "op": "eq", "value": "FR"}}).Expect(t, 201)
		audienceSize(t, a, "fr", 31)

		body := map[string]any{
			"type": "braze_export_audience", "label": "to Braze", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"fr"}, "identifier_field": "external_id",
				"existing_users": true, "flush_users": 100000, "flush_interval_seconds": 86400},
		}
		p := a.Call(t, "POST", "/jobs/preview", body).Expect(t, 200)
		if p.Num("users_to_add") != 30 || p.Num("users_omitted.total") != 1 || p.Num("users_omitted.reasons.no_identifier") != 1 ||
			p.Num("objects") != 30 || p.Num("requests") != 3 || p.Num("data_points") != 30 || p.Num("seconds_at_rate_limit") <= 0 {
			t.Fatalf("preview of the new job: %s", jsonString(p))
		}
		if got := a.Call(t, "GET", "/jobs", nil).Expect(t, 200).Arr("data"); len(got) != 0 {
			t.Fatalf("a preview created a job: %s", jsonString(got))
		}
		before := e.SimCounts(t, key)
		job := a.Call(t, "POST", "/jobs", body).Expect(t, 201).Str("id")
		waitRunEnded(t, a, job, 1)
		simAgrees(t, "first run", p, before, e.SimCounts(t, key))

		// Three leave fr: the next run removes them.
		var moved []map[string]any
		for i := range 3 {
			moved = append(moved, map[string]any{"external_id": fmt.Sprintf("%s%d", prefix, i), "country": "DE"})
		}
		a.Call(t, "POST", "/profiles?stream=braze_users", moved).Expect(t, 200)
		eventually(t, 30*time.Second, "the preview to see the three", func() (bool, string) {
			p = a.Call(t, "POST", "/jobs/"+job+"/preview", nil).Expect(t, 200)
			return p.Num("users_to_remove") == 3, jsonString(p)
		})
		if p.Num("users_to_add") != 0 || p.Num("objects") != 3 || p.Num("requests") != 1 || p.Num("data_points") != 3 {
			t.Fatalf("preview of the next run: %s", jsonString(p))
		}
		before = e.SimCounts(t, key)
		a.Call(t, "POST", "/jobs/"+job+"/run", nil).Expect(t, 200)
		waitRunEnded(t, a, job, 2)
		simAgrees(t, "next run", p, before, e.SimCounts(t, key))

		// A sent user: Braze has it in fr since the first run.
		tr := a.Call(t, "GET", "/jobs/"+job+"/users/external_id/"+prefix+"5", nil).Expect(t, 200)
		if !slices.Equal(tr.Strings("audiences_in"), []string{"fr"}) || tr.Str("accepted.identifier") != "external_id="+prefix+"5" ||
			!slices.Equal(tr.Strings("accepted.audiences"), []string{"fr"}) || tr.Str("accepted.at") == "" ||
			tr.Get("pending") != nil || tr.Str("next") != "unchanged" || tr.Get("omitted_reason") != nil || tr.Get("last_error") != nil {
			t.Errorf("trace of a sent user: %s", jsonString(tr))
		}
		// One removed: Braze has it in no audience of the job.
		tr = a.Call(t, "GET", "/jobs/"+job+"/users/external_id/"+prefix+"0", nil).Expect(t, 200)
		if len(tr.Strings("audiences_in")) != 0 || len(tr.Strings("accepted.audiences")) != 0 || tr.Str("next") != "unchanged" {
			t.Errorf("trace of a removed user: %s", jsonString(tr))
		}
		// The omitted user: no external_id.
		tr = a.Call(t, "GET", "/jobs/"+job+"/users/email/"+omitted, nil).Expect(t, 200)
		if !slices.Equal(tr.Strings("audiences_in"), []string{"fr"}) || tr.Get("accepted") != nil || tr.Str("next") != "omitted" ||
			tr.Str("omitted_reason.code") != "no_identifier" || tr.Str("omitted_reason.message") == "" {
			t.Errorf("trace of an omitted user: %s", jsonString(tr))
		}
		if r := a.Call(t, "GET", "/jobs/"+job+"/users/email/nobody-"+omitted, nil); r.Status != 404 || r.ErrorCode(t) != "profile_not_found" {
			t.Errorf("trace of an unknown profile: %d %s", r.Status, r.Body)
		}
		bad := map[string]any{"type": "csv_import", "label": "import", "authorization_id": auth, "config": map[string]any{}}
		if r := a.Call(t, "POST", "/jobs/preview", bad); r.Status != 422 {
			t.Errorf("preview of an import job: %d %s", r.Status, r.Body)
		}
	})
}

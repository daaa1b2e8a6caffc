package api

import "testing"

// TestScheduleLimitsThroughAPI: a schedule that never fires, fires less
// than once a year, more than once a minute, or names a time zone is a 422
// on field schedule, on create and on update.
func TestScheduleLimitsThroughAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.account(t, "acme")["data_manager"]
	for _, spec := range []string{"0 0 31 2 *", "0 0 30 2 *", "0 0 29 2 *", "@every 0s", "@every 1ms", "@every 30s", "@every 8785h", "CRON_TZ=America/New_York 0 9 * * *", "TZ=UTC"} {
		code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "x", "schedule": spec})
		e, _ := out["error"].(map[string]any)
		if code != 422 || errCode(out) != "invalid" || e["field"] != "schedule" {
			t.Errorf("create with %q: %d %v", spec, code, out)
		}
	}
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "x", "schedule": "@every 8784h"})
	if code != 201 {
		t.Fatalf("@every 8784h: %d %v", code, job)
	}
	code, out := b.do(t, "PATCH", "/api/v1/accounts/acme/jobs/"+job["id"].(string), tok, map[string]any{"schedule": "0 0 31 2 *"})
	if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "schedule" {
		t.Fatalf("update to Feb 31: %d %v", code, out)
	}
}

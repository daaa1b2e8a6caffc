package e2e

import (
	"slices"
	"testing"
	"time"
)

// exportJob creates an export of the audience lytics_all keyed by
// external_id, flushing each user at once, and returns its id.
func exportJob(t *testing.T, a *Account, auth string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{"audiences": []string{"lytics_all"}, "identifier_field": "external_id", "flush_users": 1}
	for k, v := range extra {
		cfg[k] = v
	}
	return a.Call(t, "POST", "/jobs", map[string]any{
		"type": "braze_export_audience", "label": "export", "authorization_id": auth, "config": cfg,
	}).Expect(t, 201).Str("id")
}

// TestPauseResumeRun: a paused job sends nothing and says so; resumed, it
// sends what changed meanwhile; run starts a run that the runs route
// lists; the log route answers the job's entries.
func TestPauseResumeRun(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, key := a.BrazeAuth(t)
		job := exportJob(t, a, auth, nil)
		if s := a.Job(t, job).Str("state"); s != "running" {
			t.Fatalf("new job state %q, want running", s)
		}
		user := "pr-" + randomHex(4)
		a.Collect(t, "braze_users", map[string]any{"external_id": user + "-a"}).Expect(t, 200)
		eventually(t, 30*time.Second, "the first user in the simulator", func() (bool, string) {
			u := e.SimUser(t, user+"-a")
			return slices.Contains(segments(u), "lytics_all"), jsonString(u)
		})

		p := a.Call(t, "POST", "/jobs/"+job+"/pause", nil).Expect(t, 200)
		if p.Str("state") != "paused" {
			t.Fatalf("pause answered state %q", p.Str("state"))
		}
		sentBefore := e.SimCounts(t, key).Num("objects")
		a.Collect(t, "braze_users", map[string]any{"external_id": user + "-b"}).Expect(t, 200)
		// The profile is stored while the job is paused...
		eventually(t, 30*time.Second, "the second profile stored", func() (bool, string) {
			r := a.Call(t, "GET", "/profiles/external_id/"+user+"-b", nil)
			return r.Status == 200, string(r.Body)
		})
		r := a.Call(t, "POST", "/jobs/"+job+"/resume", nil).Expect(t, 200)
		if r.Str("state") != "running" {
			t.Fatalf("resume answered state %q", r.Str("state"))
		}
		// ...and sent once the job is resumed.
		eventually(t, 30*time.Second, "the second user in the simulator", func() (bool, string) {
			u := e.SimUser(t, user+"-b")
			return slices.Contains(segments(u), "lytics_all"), jsonString(u)
		})
		if got := e.SimCounts(t, key).Num("objects"); got != sentBefore+1 {
			t.Errorf("objects sent %v after resume, want %v", got, sentBefore+1)
		}

		n := len(runs(t, a, job))
		a.Call(t, "POST", "/jobs/"+job+"/run", nil).Expect(t, 200)
		last := waitRunEnded(t, a, job, n+1)
		if last.Str("trigger") == "" || last.Str("outcome") != "success" {
			t.Errorf("run = %v", last)
		}
		logs := a.Call(t, "GET", "/jobs/"+job+"/logs", nil).Expect(t, 200)
		if logs.Arr("data") == nil {
			t.Errorf("logs = %v", logs)
		}
		if got := a.Call(t, "GET", "/jobs/"+job+"/runs?limit=1", nil).Expect(t, 200); len(got.Arr("data")) != 1 {
			t.Errorf("runs?limit=1 gave %d runs", len(got.Arr("data")))
		}
		if got := a.Call(t, "GET", "/jobs/nothing/runs", nil); got.Status != 404 || got.ErrorCode(t) != "not_found" {
			t.Errorf("runs of an unknown job: %d %s", got.Status, got.Body)
		}
	})
}

package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestJobHealth: when Braze cannot be reached, the job says so within a
// minute, with a stable code and an entry with counts in its log.
func TestJobHealth(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		ports, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		auth := a.Call(t, "POST", "/authorizations", map[string]any{
			"type": "braze", "label": "nowhere",
			"config":  map[string]any{"rest_endpoint": "http://127.0.0.1:" + strconv.Itoa(ports[0])},
			"secrets": map[string]any{"api_key": "k"},
		}).Expect(t, 201).Str("id")
		job := exportJob(t, a, auth)
		if h := a.Job(t, job).Str("health"); h != "ok" {
			t.Errorf("a new job's health = %q", h)
		}
		a.Collect(t, "braze_users", map[string]any{"external_id": "h-" + randomHex(3)}).Expect(t, 200)
		var j J
		eventually(t, time.Minute, "the job to report Braze unreachable", func() (bool, string) {
			j = a.Job(t, job)
			return j.Str("health") == "retrying" && j.Str("last_error.code") == "braze_unreachable", jsonString(j)
		})
		if j.Str("last_error.message") == "" || j.Str("last_error.at") == "" {
			t.Errorf("last_error = %v", j.Get("last_error"))
		}
		logs := a.Call(t, "GET", "/jobs/"+job+"/logs", nil).Expect(t, 200)
		found := false
		for _, v := range logs.Arr("data") {
			entry := J(v.(map[string]any))
			if entry.Str("code") == "braze_unreachable" && entry.Num("counters.requests") > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no braze_unreachable entry with counts in the log: %v", logs)
		}
	})
}

// TestOneRunAtATime: resume then run starts one run, and pausing a paused
// job changes nothing.
func TestOneRunAtATime(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, _ := a.BrazeAuth(t)
		job := exportJob(t, a, auth)
		p := a.Call(t, "POST", "/jobs/"+job+"/pause", nil).Expect(t, 200)
		again := a.Call(t, "POST", "/jobs/"+job+"/pause", nil).Expect(t, 200)
		if again.Num("version") != p.Num("version") {
			t.Errorf("pausing a paused job moved its version from %v to %v", p.Num("version"), again.Num("version"))
		}
		before := len(runs(t, a, job))
		a.Call(t, "POST", "/jobs/"+job+"/resume", nil).Expect(t, 200)
		if r := a.Call(t, "POST", "/jobs/"+job+"/run", nil); r.Status != 200 && (r.Status != 409 || r.ErrorCode(t) != "run_in_progress") {
			t.Errorf("run right after resume: %d %s", r.Status, r.Body)
		}
		waitRunEnded(t, a, job, before+1)
		rs := runs(t, a, job)
		open := 0
		for _, r := range rs {
			if r.Str("ended_at") == "" {
				open++
			}
		}
		if open > 1 {
			t.Errorf("%d runs open at once: %v", open, rs)
		}
	})
}

// TestIdentifierChangeSendsOmittedUsers: profiles keyed by external_id are
// omitted by a job that reads braze_id (the default); once the job reads
// external_id they are sent.
func TestIdentifierChangeSendsOmittedUsers(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, _ := a.BrazeAuth(t)
		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "braze_export_audience", "label": "default identifier", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"lytics_all"}, "flush_users": 1},
		}).Expect(t, 201).Str("id")
		user := "id-" + randomHex(4)
		a.Collect(t, "braze_users", map[string]any{"external_id": user, "email": user + "@example.com"}).Expect(t, 200)
		eventually(t, time.Minute, "the user omitted for want of a braze_id", func() (bool, string) {
			j := a.Job(t, job)
			return j.Num("last_run.counters.omitted") >= 1, jsonString(j.Get("last_run"))
		})
		if e.SimUser(t, user) != nil {
			t.Fatalf("a user without braze_id was sent")
		}
		a.Call(t, "PATCH", "/jobs/"+job, map[string]any{"config": map[string]any{
			"audiences": []string{"lytics_all"}, "flush_users": 1, "identifier_field": "external_id"}}).Expect(t, 200)
		eventually(t, time.Minute, "the omitted user in the simulator", func() (bool, string) {
			u := e.SimUser(t, user)
			return slices.Contains(segments(u), "lytics_all"), jsonString(u)
		})
	})
}

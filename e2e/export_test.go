package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// runs returns a job's runs, newest first.
func runs(t *testing.T, a *Account, job string) []J {
	t.Helper()
	var out []J
	for _, r := range a.Call(t, "GET", "/jobs/"+job+"/runs", nil).Expect(t, 200).Arr("data") {
		m, _ := r.(map[string]any)
		out = append(out, J(m))
	}
	return out
}

// waitRunEnded waits until the job has at least n runs and the newest has
// ended, and returns it.
func waitRunEnded(t *testing.T, a *Account, job string, n int) J {
	t.Helper()
	var last J
	eventually(t, 60*time.Second, fmt.Sprintf("run %d of job %s to end", n, job), func() (bool, string) {
		rs := runs(t, a, job)
		if len(rs) < n {
			return false, jsonString(rs)
		}
		last = rs[0]
		return last.Str("ended_at") != "", jsonString(rs)
	})
	return last
}

// runNow asks for a run of job, as a user does: a run asked for while the
// job's previous run is still going is refused (409 run_in_progress), and
// asked for again.
func runNow(t *testing.T, a *Account, job string) {
	t.Helper()
	eventually(t, 60*time.Second, "a run of job "+job+" to be accepted", func() (bool, string) {
		r := a.Call(t, "POST", "/jobs/"+job+"/run", nil)
		if r.Status == 409 && r.ErrorCode(t) == "run_in_progress" {
			return false, "409 run_in_progress"
		}
		r.Expect(t, 200)
		return true, ""
	})
}

// TestExportBackfill: an export with existing_users sends every member once
// with one data point each; a member who leaves gets a remove; a rerun
// with nothing changed sends nothing.
func TestExportBackfill(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, key := a.BrazeAuth(t)
		prefix := "x" + randomHex(4) + "-"
		const n = 200
		var recs []map[string]any
		for i := range n {
			country := "FR"
			if i%4 == 3 {
				country = "DE"
			}
			recs = append(recs, map[string]any{"external_id": fmt.Sprintf("%s%d", prefix, i), "country": country})
		}
		a.Call(t, "POST", "/profiles?stream=braze_users", recs).Expect(t, 200)
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "fr", "name": "France", "kind": "rule",
			"rule": map[string]any{"field": "country", "op": "eq", "value": "FR"}}).Expect(t, 201)
		members := n * 3 / 4
		audienceSize(t, a, "fr", members)

		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "braze_export_audience", "label": "to Braze", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"fr"}, "identifier_field": "external_id",
				"existing_users": true, "flush_users": 1},
		}).Expect(t, 201).Str("id")

		eventually(t, 60*time.Second, "every member in the simulator", func() (bool, string) {
			c := e.SimCounts(t, key)
			return c.Num("objects") >= float64(members), jsonString(c)
		})
		c := e.SimCounts(t, key)
		if c.Num("objects") != float64(members) || c.Num("data_points") != float64(members) {
			t.Errorf("simulator counts %v, want %d objects and data points (one per member)", c, members)
		}
		if got := segments(e.SimUser(t, prefix+"0")); !slices.Equal(got, []string{"fr"}) {
			t.Errorf("member's lytics_segments = %v, want [fr]", got)
		}
		if u := e.SimUser(t, prefix+"3"); u != nil {
			t.Errorf("non-member was sent: %v", u)
		}

		// An exit arrives as a remove.
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": prefix + "0", "country": "ES"}}).Expect(t, 200)
		eventually(t, 60*time.Second, "the leaver's fr removed in the simulator", func() (bool, string) {
			u := e.SimUser(t, prefix+"0")
			return u != nil && !slices.Contains(segments(u), "fr"), jsonString(u)
		})

		// A rerun with nothing changed costs nothing.
		before := e.SimCounts(t, key)
		a.Call(t, "POST", "/jobs/"+job+"/run", nil).Expect(t, 200)
		eventually(t, 60*time.Second, "the rerun to end", func() (bool, string) {
			rs := runs(t, a, job)
			return len(rs) >= 2 && rs[0].Str("ended_at") != "", jsonString(rs)
		})
		after := e.SimCounts(t, key)
		if after.Num("requests") != before.Num("requests") || after.Num("data_points") != before.Num("data_points") {
			t.Errorf("a rerun with nothing changed sent requests: before %v, after %v", before, after)
		}
	})
}

// TestExportOfANewAudienceInItsFirstRun: an export created right after
// its rule audience, while the audience may still be taking in the
// existing profiles, sends every member in its first run, though they are
// fewer than flush_users (75): none waits as a change for
// flush_interval_seconds, and none sent by the change feed is counted
// unchanged by the backfill as well.
func TestExportOfANewAudienceInItsFirstRun(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, key := a.BrazeAuth(t)
		prefix := "n" + randomHex(4) + "-"
		const members = 20
		var recs []map[string]any
		for i := range members {
			recs = append(recs, map[string]any{"external_id": fmt.Sprintf("%s%d", prefix, i), "tier": "gold"})
		}
		a.Call(t, "POST", "/profiles?stream=braze_users", recs).Expect(t, 200)
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "gold", "name": "Gold", "kind": "rule",
			"rule": map[string]any{"field": "tier", "op": "eq", "value": "gold"}}).Expect(t, 201)
		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "braze_export_audience", "label": "gold", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"gold"}, "identifier_field": "external_id", "existing_users": true},
		}).Expect(t, 201).Str("id")
		eventually(t, 30*time.Second, "every member in the simulator", func() (bool, string) {
			c := e.SimCounts(t, key)
			return c.Num("objects") >= members, jsonString(c)
		})
		run := waitRunEnded(t, a, job, 1)
		if rs := runs(t, a, job); len(rs) != 1 || run.Str("trigger") != "create" || run.Num("counters.sent") != members || run.Num("counters.unchanged") != 0 {
			t.Errorf("runs %s: want one create run that sent the %d members, none of them counted unchanged too", jsonString(rs), members)
		}
	})
}

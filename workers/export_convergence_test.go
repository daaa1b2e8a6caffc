package workers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// convergenceAudiences are the audiences of the convergence test: audience
// i holds the profiles whose field seg<i> is "y".
var convergenceAudiences = []string{"seg0", "seg1", "seg2"}

// TestExportConvergesUnderChurnFaultsAndAKilledWorker is the export's
// end-to-end guarantee: 20,000 users in 3 audiences are backfilled while
// their memberships keep changing, through a Braze that answers 10% of
// requests with a 5xx and 5% with a 429 and adds latency, by two worker
// processes of which one is killed with SIGKILL halfway. At the end every
// user's lytics_segments in Braze equals the user's membership (a user
// Braze never heard of counts as empty).
func TestExportConvergesUnderChurnFaultsAndAKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs brazesync processes for about a minute")
	}
	t.Parallel()
	const users = 20000
	// Braze's limit at the same rate in one-second windows: every injected
	// 429 says "the window is spent" and blocks the workspace until it
	// resets, so the window's length sets how long each 429 costs.
	pb := setupProcesses(t, brazesim.Options{RateLimit: 1000, RateWindow: time.Second,
		Faults: brazesim.Faults{ServerErrorRate: 0.10, RateLimitRate: 0.05, Latency: 20 * time.Millisecond}})
	ctx := context.Background()
	for i, slug := range convergenceAudiences {
		pb.audience(t, slug, fmt.Sprintf(`{"field":"seg%d","op":"eq","value":"y"}`, i))
	}
	rng := rand.New(rand.NewPCG(4, 2)) //nolint:gosec // reproducible workload
	model := make([][3]bool, users)
	loadStart := time.Now()
	load := make([]profiles.Record, 0, 2000)
	for i := range users {
		for a := range 3 {
			model[i][a] = rng.IntN(4) == 0
		}
		load = append(load, convergenceRecord(i, model[i], []int{0, 1, 2}))
		if len(load) == cap(load) || i == users-1 {
			if _, err := pb.prof.Upsert(ctx, pb.acct, "braze_users", load); err != nil {
				t.Fatal(err)
			}
			load = load[:0]
		}
	}

	t.Logf("%d profiles loaded in %s", users, time.Since(loadStart).Round(time.Millisecond))
	auth := pb.brazeAuth(t, "key-1", map[string]any{"rate_limit": 1000, "rate_limit_window_seconds": 1})
	pb.start(t, "scheduler", "scheduler")
	victim := pb.start(t, "worker-1", "worker", "WORKER_CONCURRENCY=4")
	pb.start(t, "worker-2", "worker", "WORKER_CONCURRENCY=4")
	started := time.Now()

	pb.startJob(t, auth, map[string]any{"audiences": list(convergenceAudiences...), "existing_users": true})

	// Churn: rounds of 100 users each getting one audience flipped, paced
	// (not synchronised) at two rounds a second for as long as the backfill
	// lasts. Halfway through the backfill one worker is killed.
	members := 0
	for _, in := range model {
		if in[0] || in[1] || in[2] {
			members++
		}
	}
	killed := false
	for r := 0; r < 60 && int(pb.sim.Stats().Objects) < members; r++ {
		if !killed && int(pb.sim.Stats().Objects) >= members/3 {
			victim.kill(t)
			killed = true
			t.Logf("worker-1 killed after %s, %d objects accepted", time.Since(started).Round(time.Millisecond), pb.sim.Stats().Objects)
		}
		batch := make([]profiles.Record, 0, 100)
		for range 100 {
			i, a := rng.IntN(users), rng.IntN(3)
			model[i][a] = !model[i][a]
			batch = append(batch, convergenceRecord(i, model[i], []int{a}))
		}
		if _, err := pb.prof.Upsert(ctx, pb.acct, "braze_users", batch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // pacing of the workload, not synchronisation
	}
	if !killed {
		t.Fatal("the backfill ended before a worker could be killed in its middle")
	}

	var diff []string
	deadline := time.Now().Add(70 * time.Second)
	for {
		diff = convergenceDiff(pb.exportBundle, model)
		if len(diff) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond) // polling Braze's state with a deadline
	}
	st := pb.sim.Stats()
	t.Logf("converged=%v after %s: %d requests, %d answered 429, %d 5xx, %d data points",
		len(diff) == 0, time.Since(started).Round(time.Millisecond), st.Requests, st.RateLimited, st.ServerErrors, st.DataPoints)
	if len(diff) > 0 {
		t.Fatalf("%d users differ from their membership, e.g. %v", len(diff), diff[:min(5, len(diff))])
	}
	if st.ServerErrors == 0 || st.RateLimited == 0 {
		t.Fatalf("the simulator injected no faults: %+v", st)
	}
}

func convergenceRecord(i int, in [3]bool, fields []int) profiles.Record {
	r := profiles.Record{Fields: map[string]any{"braze_id": fmt.Sprintf("u%05d", i)}}
	for _, a := range fields {
		v := "n"
		if in[a] {
			v = "y"
		}
		r.Fields[fmt.Sprintf("seg%d", a)] = v
	}
	return r
}

// convergenceDiff lists the users whose segments in the simulator differ
// from the model.
func convergenceDiff(b *exportBundle, model [][3]bool) []string {
	var out []string
	for i, in := range model {
		want := []string{}
		for a, ok := range in {
			if ok {
				want = append(want, convergenceAudiences[a])
			}
		}
		got, _ := b.segments(fmt.Sprintf("u%05d", i))
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, want) {
			out = append(out, fmt.Sprintf("u%05d: braze %v, membership %v", i, got, want))
		}
	}
	return out
}

// TestExportModeSwitchesConvergeUnderChurnAndFaults: a job's attribute
// mode is switched from array to boolean in the middle of its backfill,
// while memberships keep changing and Braze answers 10% of requests with
// a 5xx and 5% with a 429; then back to array mode, still under churn.
// After each switch every user converges to the new representation with
// nothing left of the old one: in boolean mode no job slug in
// lytics_segments and lytics_<slug> true exactly for the user's audiences
// (false or absent otherwise); in array mode the array equals the
// membership and no lytics_<slug> is left.
func TestExportModeSwitchesConvergeUnderChurnAndFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a few thousand users through faults")
	}
	t.Parallel()
	const users = 4000
	// A small rate limit makes the backfill last a few seconds.
	b := setupExport(t, brazesim.Options{RateLimit: 20, RateWindow: time.Second,
		Faults: brazesim.Faults{ServerErrorRate: 0.10, RateLimitRate: 0.05, Latency: 5 * time.Millisecond}})
	ctx := context.Background()
	for i, slug := range convergenceAudiences {
		b.audience(t, slug, fmt.Sprintf(`{"field":"seg%d","op":"eq","value":"y"}`, i))
	}
	rng := rand.New(rand.NewPCG(7, 3)) //nolint:gosec // reproducible workload
	model := make([][3]bool, users)
	load := make([]profiles.Record, 0, users)
	members := 0
	for i := range users {
		for a := range 3 {
			model[i][a] = rng.IntN(3) == 0
		}
		if model[i][0] || model[i][1] || model[i][2] {
			members++
		}
		load = append(load, convergenceRecord(i, model[i], []int{0, 1, 2}))
	}
	if _, err := b.prof.Upsert(ctx, b.acct, "braze_users", load); err != nil {
		t.Fatal(err)
	}
	churn := func() {
		batch := make([]profiles.Record, 0, 50)
		for range 50 {
			i, a := rng.IntN(users), rng.IntN(3)
			model[i][a] = !model[i][a]
			batch = append(batch, convergenceRecord(i, model[i], []int{a}))
		}
		if _, err := b.prof.Upsert(ctx, b.acct, "braze_users", batch); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{"audiences": list(convergenceAudiences...), "existing_users": true}
	j := b.startJob(t, b.brazeAuth(t, "key-1", map[string]any{"rate_limit": 20, "rate_limit_window_seconds": 1}), cfg)
	poll.Until(t, 60*time.Second, "half the backfill to reach Braze", func() bool {
		return int(b.sim.Stats().Objects) >= members/2
	})
	for round := range 10 {
		churn()
		if round == 3 {
			if int(b.sim.Stats().Objects) >= members {
				t.Fatal("the backfill ended before the mode could be switched in its middle")
			}
			cfg["attribute_mode"] = "boolean"
			b.changeJob(t, j.ID, cfg)
		}
		time.Sleep(100 * time.Millisecond) // pacing of the workload, not synchronisation
	}
	converge := func(mode string) {
		t.Helper()
		var diff []string
		deadline := time.Now().Add(60 * time.Second)
		for {
			diff = modeDiff(b, model, mode)
			if len(diff) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond) // polling Braze's state with a deadline
		}
		st := b.sim.Stats()
		t.Logf("%s mode: converged=%v, %d requests, %d answered 429, %d 5xx, %d data points", mode, len(diff) == 0, st.Requests, st.RateLimited, st.ServerErrors, st.DataPoints)
		if len(diff) > 0 {
			d, _ := b.jobs.Describe(ctx, b.acct, j.ID)
			logs, _ := b.jobs.Logs(ctx, b.acct, j.ID, 5)
			t.Logf("job %+v\nlogs %+v", d, logs)
			t.Fatalf("%s mode: %d users differ from their membership, e.g. %v", mode, len(diff), diff[:min(5, len(diff))])
		}
	}
	converge("boolean")
	for round := range 10 {
		churn()
		if round == 3 {
			cfg["attribute_mode"] = "array"
			b.changeJob(t, j.ID, cfg)
		}
		time.Sleep(100 * time.Millisecond) // pacing of the workload, not synchronisation
	}
	converge("array")
	if st := b.sim.Stats(); st.ServerErrors == 0 || st.RateLimited == 0 {
		t.Fatalf("the simulator injected no faults: %+v", st.Counts)
	}
}

// modeDiff lists the users whose attributes in the simulator differ from
// the model in the given mode, or keep anything of the other one.
func modeDiff(b *exportBundle, model [][3]bool, mode string) []string {
	var out []string
	for i, in := range model {
		id := fmt.Sprintf("u%05d", i)
		u, _ := b.sim.User(id)
		segs, _ := b.segments(id)
		var want []string
		for a, ok := range in {
			if ok {
				want = append(want, convergenceAudiences[a])
			}
		}
		bad := false
		for a, slug := range convergenceAudiences {
			v, has := u["lytics_"+slug]
			switch mode {
			case "boolean":
				bad = bad || slices.Contains(segs, slug) || (in[a] && v != true) || (!in[a] && has && v != false)
			default:
				bad = bad || has
			}
		}
		if mode != "boolean" && strings.Join(segs, ",") != strings.Join(want, ",") {
			bad = true
		}
		if bad {
			out = append(out, fmt.Sprintf("%s: braze %v, membership %v", id, u, want))
		}
	}
	return out
}

package workers

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// otherAccount returns a bundle for another account on the same Redis,
// workers and scheduler, with its own Braze simulator.
func (b *exportBundle) otherAccount(t *testing.T, acct string, simOpts brazesim.Options) *exportBundle {
	t.Helper()
	o := *b
	o.acct = acct
	o.sim = brazesim.New(simOpts)
	hs := httptest.NewServer(o.sim)
	t.Cleanup(hs.Close)
	t.Cleanup(o.sim.Close)
	o.simURL = hs.URL
	if _, err := o.aud.EnsureDefaults(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	return &o
}

// members upserts n profiles <account>-<i> in FR (audience "fr"), in
// batches loaded side by side, each built as it is loaded.
func (b *exportBundle) members(t *testing.T, n int) {
	t.Helper()
	const batch = 5000
	for from := 0; from < n; from += batch {
		recs := make([]map[string]any, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			recs = append(recs, map[string]any{"braze_id": fmt.Sprintf("%s-%05d", b.acct, i), "country": "FR"})
		}
		b.upsert(t, recs...)
	}
}

// TestExportFairness runs three accounts on one pool of workers: one with a
// backfill of 6,000 members through a Braze workspace limited to 15
// requests per 3 s (a backfill of about 16 s), one whose Braze answers
// every request with a 5xx after 300 ms, and a small export of 50 users
// started while both others are busy. The small export must be complete in
// Braze within 5 seconds, while the big backfill is still running.
func TestExportFairness(t *testing.T) {
	t.Parallel()
	big := setupExport(t, brazesim.Options{RateLimit: 15, RateWindow: 3 * time.Second})
	failing := big.otherAccount(t, "failing", brazesim.Options{Faults: brazesim.Faults{ServerErrorRate: 1, Latency: 300 * time.Millisecond}})
	small := big.otherAccount(t, "small", brazesim.Options{})
	for _, b := range []*exportBundle{big, failing, small} {
		b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	}
	big.members(t, 6000)
	failing.members(t, 500)
	small.members(t, 50)

	bigAuth := big.brazeAuth(t, "big-key", map[string]any{"rate_limit": 15})
	big.startJob(t, bigAuth, map[string]any{"audiences": list("fr"), "existing_users": true})
	failing.startJob(t, failing.brazeAuth(t, "failing-key", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 20*time.Second, "the big backfill to send", func() bool { return big.sim.Stats().Objects > 0 })
	poll.Until(t, 20*time.Second, "the failing workspace to fail", func() bool { return failing.sim.Stats().ServerErrors > 2 })

	start := time.Now()
	small.startJob(t, small.brazeAuth(t, "small-key", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	want := map[string][]string{}
	for i := range 50 {
		want[fmt.Sprintf("small-%05d", i)] = []string{"fr"}
	}
	deadline := start.Add(5 * time.Second)
	for !segmentsEqual(small, want) {
		if time.Now().After(deadline) {
			t.Fatalf("the small export was not in Braze 5 s after it started (%d of 50 users); big backfill at %d users, failing workspace %d 5xx",
				small.sim.Stats().Objects, big.sim.Stats().Objects, failing.sim.Stats().ServerErrors)
		}
		time.Sleep(20 * time.Millisecond) // polling the simulator with a deadline
	}
	took := time.Since(start)
	bigDone := big.sim.Stats().Objects
	t.Logf("small export complete after %s; big backfill at %d of 6000 users; failing workspace answered %d 5xx", took.Round(time.Millisecond), bigDone, failing.sim.Stats().ServerErrors)
	if bigDone >= 6000 {
		t.Fatal("the big backfill had ended: the test did not overlap the exports")
	}
	if small.sim.Stats().RateLimited > 0 {
		t.Fatal("the small workspace was rate limited")
	}
}

func segmentsEqual(b *exportBundle, want map[string][]string) bool {
	for id, w := range want {
		got, ok := b.segments(id)
		if !ok || len(got) != len(w) {
			return false
		}
		for i := range w {
			if got[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// TestExportFairnessBesideAFastBackfill starts a small export of 100 users
// while another account backfills 1,000,000 members through a workspace
// at Braze's real limit (3,000 requests per 3 s), which keeps every sender
// the big job may have busy. The small export must be complete in Braze
// within 5 seconds, while the big backfill is still running.
func TestExportFairnessBesideAFastBackfill(t *testing.T) {
	t.Parallel()
	big := setupExport(t, brazesim.Options{RateLimit: 3000, RateWindow: 3 * time.Second})
	small := big.otherAccount(t, "small", brazesim.Options{})
	for _, b := range []*exportBundle{big, small} {
		b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	}
	const bigUsers = 1_000_000
	big.members(t, bigUsers)
	small.members(t, 100)

	big.startJob(t, big.brazeAuth(t, "big-key", map[string]any{"rate_limit": 3000}), map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 20*time.Second, "the big backfill to send", func() bool { return big.sim.Stats().Objects > 0 })

	start := time.Now()
	small.startJob(t, small.brazeAuth(t, "small-key", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	want := map[string][]string{}
	for i := range 100 {
		want[fmt.Sprintf("small-%05d", i)] = []string{"fr"}
	}
	deadline := start.Add(5 * time.Second)
	for !segmentsEqual(small, want) {
		if time.Now().After(deadline) {
			t.Fatalf("the small export was not in Braze 5 s after it started (%d of 100 users); big backfill at %d users",
				small.sim.Stats().Objects, big.sim.Stats().Objects)
		}
		time.Sleep(20 * time.Millisecond) // polling the simulator with a deadline
	}
	bigDone := big.sim.Stats().Objects
	t.Logf("small export complete after %s; big backfill at %d of %d users", time.Since(start).Round(time.Millisecond), bigDone, bigUsers)
	if bigDone >= bigUsers {
		t.Fatal("the big backfill had ended: the test did not overlap the exports")
	}
}

// TestExportRateLimitStormStaysInItsWorkspace backfills 9,000 members
// through a workspace limited to 60 requests per 3 s (a ceiling of 1,500
// users a second: 6 s of sending) while another account's workspace
// answers every request 429. The storm must not slow the first: its users
// arrive at no less than 0.8 of its ceiling, with no 429 of its own.
func TestExportRateLimitStormStaysInItsWorkspace(t *testing.T) {
	t.Parallel()
	calm := setupExport(t, brazesim.Options{RateLimit: 60, RateWindow: 3 * time.Second})
	storm := calm.otherAccount(t, "storm", brazesim.Options{Faults: brazesim.Faults{RateLimitRate: 1}})
	for _, b := range []*exportBundle{calm, storm} {
		b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	}
	const users = 9000
	calm.members(t, users)
	storm.members(t, 3000)

	storm.startJob(t, storm.brazeAuth(t, "storm-key", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 20*time.Second, "the storm workspace to answer 429", func() bool { return storm.sim.Stats().RateLimited > 2 })

	storm429 := storm.sim.Stats().RateLimited
	calm.startJob(t, calm.brazeAuth(t, "calm-key", map[string]any{"rate_limit": 60}), map[string]any{"audiences": list("fr"), "existing_users": true})
	// Measured from the first request's users to the last: the limiter
	// lets a burst through at once, then paces the rest.
	poll.Until(t, 20*time.Second, "the calm workspace to send", func() bool { return calm.sim.Stats().Objects > 0 })
	first, start := calm.sim.Stats().Objects, time.Now()
	poll.Until(t, 30*time.Second, "the calm backfill to end", func() bool { return calm.sim.Stats().Objects >= users })
	rate := float64(users-first) / time.Since(start).Seconds()
	ceiling := 60.0 / 3 * 75
	st := calm.sim.Stats()
	t.Logf("calm workspace: %.0f users/s (%.2f of its ceiling %.0f), %d answered 429; storm workspace: %d answered 429 meanwhile",
		rate, rate/ceiling, ceiling, st.RateLimited, storm.sim.Stats().RateLimited-storm429)
	if rate < 0.8*ceiling {
		t.Fatalf("the calm workspace sent %.0f users/s beside the storm, under 0.8 of its ceiling %.0f", rate, ceiling)
	}
	if st.RateLimited > 0 {
		t.Fatalf("the calm workspace was answered 429 %d times", st.RateLimited)
	}
	if storm.sim.Stats().RateLimited == storm429 {
		t.Fatal("the storm had stopped: the test did not overlap the workspaces")
	}
}

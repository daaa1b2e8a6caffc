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

func (b *exportBundle) members(t *testing.T, n int) {
	t.Helper()
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"braze_id": fmt.Sprintf("%s-%05d", b.acct, i), "country": "FR"}
	}
	for from := 0; from < n; from += 2000 {
		b.upsert(t, recs[from:min(from+2000, n)]...)
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

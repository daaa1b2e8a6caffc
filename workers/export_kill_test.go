package workers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// TestExportKilledMidSendLosesNothingAndCountsResends backfills 12,000
// members through a Braze that takes 200 ms to answer, so that a worker
// keeps many requests in flight, and kills that worker with SIGKILL while
// more than two requests' worth of users are leased. Another worker takes
// over. Every member must reach Braze, the run must count every user it
// sent (those sent again after the kill included), and what Braze
// accepted beyond the run's counts can only be the requests that were in
// flight when the worker died.
func TestExportKilledMidSendLosesNothingAndCountsResends(t *testing.T) {
	if testing.Short() {
		t.Skip("runs brazesync processes")
	}
	t.Parallel()
	const users = 12000
	pb := setupProcesses(t, brazesim.Options{RateLimit: 3000, RateWindow: 3 * time.Second, Faults: brazesim.Faults{Latency: 200 * time.Millisecond}})
	ctx := context.Background()
	pb.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	pb.members(t, users)
	auth := pb.brazeAuth(t, "k", map[string]any{"rate_limit": 3000})
	pb.start(t, "scheduler", "scheduler")
	victim := pb.start(t, "worker-1", "worker")
	j := pb.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true})

	inflight := fmt.Sprintf("bs:{%s}:export:%s:inflight", pb.acct, j.ID)
	poll.Until(t, 60*time.Second, "a quarter of the users sent and several requests in flight", func() bool {
		n, err := pb.rdb.ZCard(ctx, inflight).Result()
		if err != nil {
			t.Fatal(err)
		}
		return pb.sim.Stats().Objects >= users/4 && n > 150
	})
	victim.kill(t)
	atKill := pb.sim.Stats().Objects
	// The dead worker's leases stay until they expire: they are the users
	// it had in flight.
	leased, err := pb.rdb.ZCard(ctx, inflight).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worker killed with %d users leased, %d objects accepted", leased, atKill)
	pb.start(t, "worker-2", "worker")

	want := map[string][]string{}
	for i := range users {
		want[fmt.Sprintf("%s-%05d", pb.acct, i)] = []string{"fr"}
	}
	poll.Until(t, 90*time.Second, "every member in Braze", func() bool { return segmentsEqual(pb.exportBundle, want) })
	var run jobs.Run
	poll.Until(t, 60*time.Second, "the run to end", func() bool {
		runs, err := pb.jobs.Runs(ctx, pb.acct, j.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 || runs[0].Outcome == jobs.OutcomeRunning {
			return false
		}
		run = runs[0]
		return true
	})
	st := pb.sim.Stats()
	sent, points := run.Counters["sent"], run.Counters["data_points"]
	t.Logf("run %s: %v; Braze accepted %d objects, %d data points", run.Outcome, run.Counters, st.Objects, st.DataPoints)
	if run.Outcome != jobs.OutcomeSuccess {
		t.Fatalf("run outcome %s, want success", run.Outcome)
	}
	if sent < users {
		t.Fatalf("the run counted %d users sent, fewer than the %d members Braze has: users sent again after the kill went uncounted", sent, users)
	}
	// Objects Braze accepted that no run counted: those of requests the
	// killed worker had in flight, never more than it had leased.
	if extra := st.Objects - sent; extra < 0 || extra > leased {
		t.Fatalf("Braze accepted %d objects, the run counted %d sent: %d unaccounted, with %d users leased at the kill", st.Objects, sent, extra, leased)
	}
	if extra := st.DataPoints - points; extra < 0 || extra > leased {
		t.Fatalf("Braze counted %d data points, the run %d", st.DataPoints, points)
	}
}

package workers

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// logsWith returns the job's log entries of code, newest first.
func (b *exportBundle) logsWith(t *testing.T, jobID, code string) []jobs.Entry {
	t.Helper()
	logs, err := b.jobs.Logs(context.Background(), b.acct, jobID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []jobs.Entry
	for _, e := range logs {
		if e.Code == code {
			out = append(out, e)
		}
	}
	return out
}

// waitHealth waits for the job's health and returns the job.
func (b *exportBundle) waitHealth(t *testing.T, jobID, health, code string) *jobs.Job {
	t.Helper()
	var d *jobs.Job
	poll.Until(t, 30*time.Second, "job health "+health+" "+code, func() bool {
		d, _ = b.jobs.Describe(context.Background(), b.acct, jobID)
		if d == nil || d.Health != health {
			return false
		}
		if code == "" {
			return d.LastError == nil
		}
		return d.LastError != nil && d.LastError.Code == code
	})
	return d
}

// TestExportHealthBrazeUnreachable: an export whose Braze does not answer
// is retrying with braze_unreachable, its log has one entry with the
// counts (not one per retry), and the first accepted request makes it ok.
func TestExportHealthBrazeUnreachable(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	addr := closedPort(t)
	auth := b.brazeAuth(t, "key-1", map[string]any{"rest_endpoint": "http://" + addr})
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true})
	d := b.waitHealth(t, j.ID, jobs.HealthRetrying, "braze_unreachable")
	if d.State != jobs.StateRunning || !strings.Contains(d.LastError.Message, "cannot be reached") || !strings.Contains(d.LastError.Message, "REST endpoint") || d.LastError.At.IsZero() {
		t.Fatalf("job: state %s, last error %+v", d.State, d.LastError)
	}
	// Several failed batches later the log still has one entry about it.
	poll.Until(t, 30*time.Second, "a second failed batch", func() bool {
		d, _ := b.jobs.Describe(context.Background(), b.acct, j.ID)
		return d.LastRun != nil && d.LastRun.Counters["requests"] >= 8
	})
	entries := b.logsWith(t, j.ID, "braze_unreachable")
	if len(entries) != 1 || entries[0].Health != jobs.HealthRetrying || entries[0].Counters["requests"] < 4 ||
		entries[0].Counters["retried"] < 4 || entries[0].Counters["failed"] < 4 {
		t.Fatalf("log entries about the problem: %+v", entries)
	}
	// Braze answers again: ok, and the log says so.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(b.sim)
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	t.Cleanup(hs.Close)
	b.waitSegments(t, map[string][]string{"u1": {"fr"}})
	b.waitHealth(t, j.ID, jobs.HealthOK, "")
	if rec := b.logsWith(t, j.ID, "recovered"); len(rec) != 1 || rec[0].Counters["failed"] < 4 {
		t.Fatalf("recovery entries: %+v", rec)
	}
}

// TestExportHealthBraze5xx: 5xx through every retry is retrying with
// braze_5xx; ok again once Braze answers.
func TestExportHealthBraze5xx(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{Faults: brazesim.Faults{ServerErrorRate: 1}})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	j := b.startJob(t, b.brazeAuth(t, "key-1", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	d := b.waitHealth(t, j.ID, jobs.HealthRetrying, "braze_5xx")
	if !strings.Contains(d.LastError.Message, "Braze answered 50") {
		t.Fatalf("last error: %+v", d.LastError)
	}
	if e := b.logsWith(t, j.ID, "braze_5xx"); len(e) != 1 || e[0].Level != "warn" || e[0].Counters["requests"] < 4 {
		t.Fatalf("log: %+v", e)
	}
	if err := b.sim.SetFaults(brazesim.Faults{}); err != nil {
		t.Fatal(err)
	}
	b.waitSegments(t, map[string][]string{"u1": {"fr"}})
	b.waitHealth(t, j.ID, jobs.HealthOK, "")
}

// TestExportHealth401: a rejected key makes the job failed and failing
// with braze_401 and the hint, and ends its run as failed.
func TestExportHealth401(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{APIKeys: []string{"right-key"}})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	j := b.startJob(t, b.brazeAuth(t, "wrong-key", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	d := b.waitHealth(t, j.ID, jobs.HealthFailing, "braze_401")
	if !strings.Contains(d.LastError.Message, "check the key and that the instance is the workspace's") {
		t.Fatalf("last error: %+v", d.LastError)
	}
	poll.Until(t, 20*time.Second, "the job and its run failed", func() bool {
		d, _ = b.jobs.Describe(context.Background(), b.acct, j.ID)
		return d.State == jobs.StateFailed && d.LastRun != nil && d.LastRun.Outcome == jobs.OutcomeFailed
	})
	if !strings.Contains(d.LastRun.Error, "401") {
		t.Fatalf("the failed run does not say why: %+v", d.LastRun)
	}
}

// TestExportHealth429IsAWait: a storm of 429 answers is a wait, not a
// failure: the job stays ok and its log says nothing about it.
func TestExportHealth429IsAWait(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{Faults: brazesim.Faults{RateLimitRate: 1}})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	j := b.startJob(t, b.brazeAuth(t, "key-1", nil), map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 30*time.Second, "three rate-limited answers", func() bool { return b.sim.Stats().RateLimited >= 3 })
	if d, _ := b.jobs.Describe(context.Background(), b.acct, j.ID); d.Health != jobs.HealthOK || d.LastError != nil {
		t.Fatalf("rate limited: health %q, last error %+v", d.Health, d.LastError)
	}
	if err := b.sim.SetFaults(brazesim.Faults{}); err != nil {
		t.Fatal(err)
	}
	b.waitSegments(t, map[string][]string{"u1": {"fr"}})
	logs, _ := b.jobs.Logs(context.Background(), b.acct, j.ID, 100)
	for _, e := range logs {
		if e.Health != "" {
			t.Fatalf("a rate-limit wait was logged as a problem: %+v", e)
		}
	}
}

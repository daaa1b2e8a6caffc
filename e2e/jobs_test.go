package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
)

// exportJob creates an export of the audience lytics_all keyed by
// external_id, flushing each user at once, and returns its id.
func exportJob(t *testing.T, a *Account, auth string) string {
	t.Helper()
	j := res(a.Client(t).CreateJob(context.Background(), a.ID, client.JobInput{
		Type: client.JobExportAudience, Label: "export", AuthorizationID: auth,
		Config: client.JobConfig{Audiences: []string{"lytics_all"}, IdentifierField: "external_id", FlushUsers: 1},
	})).must(t)
	return j.ID
}

// TestPauseResumeRun: a paused job sends nothing and says so; resumed, it
// sends what changed meanwhile; run starts a run that the runs route
// lists; the log route answers the job's entries.
func TestPauseResumeRun(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a := e.NewAccount(t)
		c := a.Client(t)
		auth, key := a.BrazeAuth(t)
		job := exportJob(t, a, auth)
		if s := res(c.GetJob(ctx, a.ID, job)).must(t).State; s != client.JobRunning {
			t.Fatalf("new job state %q, want running", s)
		}
		user := "pr-" + randomHex(4)
		a.Collect(t, "braze_users", map[string]any{"external_id": user + "-a"}).Expect(t, 200)
		eventually(t, 30*time.Second, "the first user in the simulator", func() (bool, string) {
			u := e.SimUser(t, user+"-a")
			return slices.Contains(segments(u), "lytics_all"), jsonString(u)
		})

		if p := res(c.PauseJob(ctx, a.ID, job)).must(t); p.State != client.JobPaused {
			t.Fatalf("pause answered state %q", p.State)
		}
		sentBefore := e.SimCounts(t, key).Num("objects")
		a.Collect(t, "braze_users", map[string]any{"external_id": user + "-b"}).Expect(t, 200)
		// The profile is stored while the job is paused...
		eventually(t, 30*time.Second, "the second profile stored", func() (bool, string) {
			_, err := c.GetProfile(ctx, a.ID, "external_id", user+"-b")
			return err == nil, fmt.Sprint(err)
		})
		if r := res(c.ResumeJob(ctx, a.ID, job)).must(t); r.State != client.JobRunning {
			t.Fatalf("resume answered state %q", r.State)
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
		res(c.RunJob(ctx, a.ID, job)).must(t)
		last := waitRunEnded(t, a, job, n+1)
		if last.Str("trigger") == "" || last.Str("outcome") != "success" {
			t.Errorf("run = %v", last)
		}
		if logs := res(c.ListJobLogs(ctx, a.ID, job, nil)).must(t); logs == nil {
			t.Errorf("the log answered no list")
		}
		if got := res(c.ListJobRuns(ctx, a.ID, job, &client.ListOptions{Limit: 1})).must(t); len(got) != 1 {
			t.Errorf("runs with limit 1 gave %d runs", len(got))
		}
		_, err := c.ListJobRuns(ctx, a.ID, "nothing", nil)
		wantCode(t, err, client.CodeNotFound)
	})
}

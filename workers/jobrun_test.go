package workers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/store"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

type noAuths struct{}

func (noAuths) AuthorizationType(context.Context, string, string) (string, error) {
	return "", errors.New("none")
}

func str(s string) *string { return &s }

// TestJobRunOutcomes runs real Asynq workers over jobs whose runner
// succeeds, waits then succeeds, and fails permanently.
func TestJobRunOutcomes(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ns := store.Namespace("bs")
	js := jobs.New(rdb, ns, noAuths{}, nil, jobs.Type{Name: "ok"}, jobs.Type{Name: "waits"}, jobs.Type{Name: "broken"})
	var waited atomic.Int32
	runners := map[string]Runner{
		"ok": RunnerFunc(func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			return jobs.OutcomeSuccess, js.Count(ctx, j.Account, j.ID, r.ID, map[string]int64{"rows": 7})
		}),
		"waits": RunnerFunc(func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			if waited.Add(1) < 3 {
				return "", Wait(50*time.Millisecond, "rate limited")
			}
			return jobs.OutcomePartial, nil
		}),
		"broken": RunnerFunc(func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			return "", Permanent(errors.New("Braze answered 401: key rejected"))
		}),
	}
	srv := NewServer(rdb, Config{Concurrency: 4})
	srv.Handle(tasks.TypeJobRun, &JobRuns{Jobs: js, Runners: runners, Logger: testLogger()})
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := asynq.NewClientFromRedisClient(rdb)
	ids := map[string]string{}
	for _, typ := range []string{"ok", "waits", "broken"} {
		j, err := js.Create(ctx, "acme", jobs.Input{Type: typ, Label: str(typ)})
		if err != nil {
			t.Fatal(err)
		}
		ids[typ] = j.ID
		task, _ := tasks.NewJobRun(tasks.JobRun{Account: "acme", JobID: j.ID, Trigger: "manual"}, tasks.QueueDefault)
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	state := func(typ string) *jobs.Job { j, _ := js.Describe(ctx, "acme", ids[typ]); return j }
	poll.Until(t, 20*time.Second, "ok job completed", func() bool { return state("ok").State == jobs.StateCompleted })
	if r := state("ok").LastRun; r.Outcome != jobs.OutcomeSuccess || r.Counters["rows"] != 7 {
		t.Fatalf("ok run: %+v", r)
	}
	poll.Until(t, 20*time.Second, "waiting job completed", func() bool { return state("waits").State == jobs.StateCompleted })
	if r := state("waits").LastRun; r.Outcome != jobs.OutcomePartial {
		t.Fatalf("waits run: %+v", r)
	}
	runs, _ := js.Runs(ctx, "acme", ids["waits"], 10)
	if len(runs) != 1 {
		t.Fatalf("a task that waited must keep one run, got %d", len(runs))
	}
	poll.Until(t, 20*time.Second, "broken job failed", func() bool { return state("broken").State == jobs.StateFailed })
	logs, _ := js.Logs(ctx, "acme", ids["broken"], 10)
	if len(logs) == 0 || logs[0].Code != "run_failed" || logs[0].Message != "Braze answered 401: key rejected" {
		t.Fatalf("broken job log: %+v", logs)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	poll.Until(t, 20*time.Second, "no retries left over", func() bool {
		info, err := insp.GetQueueInfo(tasks.QueueDefault)
		return err == nil && info.Retry == 0 && info.Pending == 0 && info.Active == 0
	})
	if info, _ := insp.GetQueueInfo(tasks.QueueDefault); info.Archived != 1 {
		t.Fatalf("the permanent failure should be archived once, not retried: %+v", info)
	}
}

package workers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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
	ns := keyspace.Namespace("bs")
	js := jobs.New(rdb, ns, noAuths{}, nil)
	var waited atomic.Int32
	types := registry(t,
		runFunc("ok", func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			return jobs.OutcomeSuccess, js.Count(ctx, j.Account, j.ID, r.ID, map[string]int64{"rows": 7})
		}),
		runFunc("waits", func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			if waited.Add(1) < 3 {
				return "", fault.Wait(50*time.Millisecond, "rate limited")
			}
			return jobs.OutcomePartial, nil
		}),
		runFunc("broken", func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			return "", fault.Permanent("", errors.New("Braze answered 401: key rejected"))
		}),
	)
	for _, jt := range types.JobTypes() {
		js.AddType(jt)
	}
	srv := NewServer(rdb, Config{Concurrency: 4})
	srv.HandleJobs(js, types, testLogger())
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

// flakyXAdd fails every XADD (alone, pipelined or in a transaction) while
// on is set.
type flakyXAdd struct{ on *atomic.Bool }

var errXAdd = errors.New("injected XADD failure")

func (h flakyXAdd) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h flakyXAdd) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		if h.on.Load() && c.Name() == "xadd" {
			c.SetErr(errXAdd)
			return errXAdd
		}
		return next(ctx, c)
	}
}
func (h flakyXAdd) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if h.on.Load() && c.Name() == "xadd" {
				return errXAdd
			}
		}
		return next(ctx, cmds)
	}
}

// TestJobRunFailureRecordedOrRetried: a run that fails for good while its
// reason cannot be written is retried until it can, rather than leaving a
// failed job whose log does not say why.
func TestJobRunFailureRecordedOrRetried(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	var failing atomic.Bool
	failing.Store(true)
	rdb.AddHook(flakyXAdd{&failing})
	var calls atomic.Int32
	types := registry(t, runFunc("broken", func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
		calls.Add(1)
		return "", fault.Permanent("", errors.New("the authorization's PGP key: wrong passphrase"))
	}))
	js := jobs.New(rdb, keyspace.Namespace("bs"), noAuths{}, nil, types.JobTypes()...)
	srv := NewServer(rdb, Config{Concurrency: 2})
	srv.HandleJobs(js, types, testLogger())
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	j, err := js.Create(ctx, "acme", jobs.Input{Type: "broken", Label: str("broken")})
	if err != nil {
		t.Fatal(err)
	}
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: "acme", JobID: j.ID, Trigger: "manual"}, tasks.QueueDefault)
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	if _, err := client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the run tried again", func() bool { return calls.Load() >= 2 })
	if jj, _ := js.Get(ctx, "acme", j.ID); jj.State == jobs.StateFailed {
		t.Fatal("the job failed without its reason recorded")
	}
	failing.Store(false)
	poll.Until(t, 30*time.Second, "the job failed with its reason", func() bool {
		d, _ := js.Describe(ctx, "acme", j.ID)
		return d.State == jobs.StateFailed && d.Health == jobs.HealthFailing && d.LastError != nil && d.LastError.Code == "run_failed"
	})
	logs, _ := js.Logs(ctx, "acme", j.ID, 10)
	if len(logs) != 1 || logs[0].Message != "the authorization's PGP key: wrong passphrase" {
		t.Fatalf("log: %+v", logs)
	}
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TestRunNotStartedTwice: resume then run queues one run; run while it is
// queued answers 409 run_in_progress; a run that failed for good makes
// room for the next. No-op transitions change nothing, version included.
func TestRunNotStartedTwice(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	b := setupOn(t, rdb, keyspace.Namespace("bs"), client)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tok := b.account(t, "acme")["data_manager"]
	queued := func() []*asynq.TaskInfo {
		t.Helper()
		ts, err := insp.ListPendingTasks(tasks.QueueDefault)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		return ts
	}
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "once", "schedule": "@hourly"})
	if code != 201 || job["health"] != "ok" || job["last_error"] != nil {
		t.Fatalf("create: %d %v", code, job)
	}
	base := "/api/v1/accounts/acme/jobs/" + job["id"].(string)
	_, j := b.do(t, "POST", base+"/pause", tok, nil)
	v := j["version"]
	if _, j := b.do(t, "POST", base+"/pause", tok, nil); j["state"] != "paused" || j["version"] != v {
		t.Fatalf("pausing a paused job changed it: %v, version was %v", j, v)
	}
	// A scheduled job: resume queues nothing, run queues one.
	b.do(t, "POST", base+"/resume", tok, nil)
	_, j = b.do(t, "POST", base+"/resume", tok, nil)
	if j["state"] != "running" || len(queued()) != 0 {
		t.Fatalf("resume: %v, %d queued", j, len(queued()))
	}
	v = j["version"]
	if code, j := b.do(t, "POST", base+"/run", tok, nil); code != 200 || j["state"] != "running" || j["version"] != v || j["health"] != "ok" {
		t.Fatalf("run: %d %v", code, j)
	}
	if code, out := b.do(t, "POST", base+"/run", tok, nil); code != 409 || errCode(out) != "run_in_progress" {
		t.Fatalf("run while a run is queued: %d %v", code, out)
	}
	if n := len(queued()); n != 1 {
		t.Fatalf("%d runs queued, want 1", n)
	}
	// The run fails for good (archived): the next run is queued.
	if err := insp.ArchiveTask(tasks.QueueDefault, queued()[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, j := b.do(t, "POST", base+"/run", tok, nil); code != 200 || len(queued()) != 1 {
		t.Fatalf("run after a failed run: %d %v, %d queued", code, j, len(queued()))
	}
}

// TestResumeThenRunQueuesOneRun: a job without schedule, paused while its
// first run is queued: resume then run leaves exactly one run queued.
func TestResumeThenRunQueuesOneRun(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	b := setupOn(t, rdb, keyspace.Namespace("bs"), client)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tok := b.account(t, "acme")["data_manager"]
	_, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "once"})
	base := "/api/v1/accounts/acme/jobs/" + job["id"].(string)
	b.do(t, "POST", base+"/pause", tok, nil)
	if code, j := b.do(t, "POST", base+"/resume", tok, nil); code != 200 || j["state"] != "running" {
		t.Fatalf("resume: %d %v", code, j)
	}
	if code, out := b.do(t, "POST", base+"/run", tok, nil); code != 409 || errCode(out) != "run_in_progress" {
		t.Fatalf("run after resume: %d %v", code, out)
	}
	ts, err := insp.ListPendingTasks(tasks.QueueDefault)
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d runs queued, want 1 (%v)", len(ts), err)
	}
}

// TestJobAnswersCarryHealth: the job, the list and the transitions answer
// health and last_error, and every field of a job answer is documented.
func TestJobAnswersCarryHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.account(t, "acme")["data_manager"]
	_, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "once", "schedule": "@hourly"})
	id := job["id"].(string)
	base := "/api/v1/accounts/acme/jobs/" + id
	problem := jobs.Problem{Code: "braze_unreachable", Message: "Braze cannot be reached", Counters: map[string]int64{"requests": 4}}
	if err := b.jobs.ReportProblem(context.Background(), "acme", id, problem); err != nil {
		t.Fatal(err)
	}
	_, got := b.do(t, "GET", base, tok, nil)
	le, _ := got["last_error"].(map[string]any)
	if got["health"] != "retrying" || le["code"] != "braze_unreachable" || le["message"] != "Braze cannot be reached" || le["at"] == nil {
		t.Fatalf("job: %v", got)
	}
	_, list := b.do(t, "GET", "/api/v1/accounts/acme/jobs", tok, nil)
	if l := list["data"].([]any)[0].(map[string]any); l["health"] != "retrying" || l["last_error"] == nil {
		t.Fatalf("listed: %v", l)
	}
	if _, p := b.do(t, "POST", base+"/pause", tok, nil); p["health"] != "retrying" {
		t.Fatalf("paused: %v", p)
	}
	var schema struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	doc, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc, &schema); err != nil {
		t.Fatal(err)
	}
	for k := range got {
		if _, ok := schema.Components.Schemas["Job"].Properties[k]; !ok {
			t.Errorf("job field %q is not in the OpenAPI Job schema", k)
		}
	}
	for _, k := range []string{"code", "message", "at"} {
		if _, ok := schema.Components.Schemas["LastError"].Properties[k]; !ok {
			t.Errorf("last_error.%s is not documented", k)
		}
	}
	if _, err := b.jobs.ReportOK(context.Background(), "acme", id); err != nil {
		t.Fatal(err)
	}
	if _, got := b.do(t, "GET", base, tok, nil); got["health"] != "ok" || got["last_error"] != nil {
		t.Fatalf("recovered: %v", got)
	}
	_, logs := b.do(t, "GET", base+"/logs", tok, nil)
	entries := logs["data"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["code"] != "recovered" || entries[1].(map[string]any)["health"] != "retrying" {
		t.Fatalf("logs: %v", entries)
	}
}

// TestCreateRunsUnlessGivenASchedule: a job whose type gives it a schedule
// (as csv_import's keep_updated does) still runs at creation; a job whose
// creator gave a schedule waits for it.
func TestCreateRunsUnlessGivenASchedule(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	b := setupOn(t, rdb, keyspace.Namespace("bs"), client)
	b.jobs.AddType(jobs.Type{Name: "polling", Validate: func(_ context.Context, j *jobs.Job) error {
		if j.Schedule == "" {
			j.Schedule = "@every 15m"
		}
		return nil
	}})
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tok := b.account(t, "acme")["data_manager"]
	queued := func() int {
		t.Helper()
		ts, err := insp.ListPendingTasks(tasks.QueueDefault)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		return len(ts)
	}
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "polling", "label": "given"})
	if code != 201 || job["schedule"] != "@every 15m" {
		t.Fatalf("create: %d %v", code, job)
	}
	if n := queued(); n != 1 {
		t.Fatalf("a job whose type gave it a schedule: %d runs queued at creation, want 1", n)
	}
	if code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "polling", "label": "asked", "schedule": "@hourly"}); code != 201 || job["schedule"] != "@hourly" {
		t.Fatalf("create with a schedule: %d %v", code, job)
	}
	if n := queued(); n != 1 {
		t.Fatalf("a job created with a schedule: %d runs queued, want still 1", n)
	}
}

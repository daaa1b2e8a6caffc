package jobtype_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

var noRun = jobtype.RunnerFunc(func(context.Context, *jobs.Job, *jobs.Run) (string, error) { return "", nil })

func TestRegistryRefusesBadTypes(t *testing.T) {
	t.Parallel()
	ok := jobtype.Type{Name: "a", Queue: tasks.QueueDefault, Run: noRun}
	handler := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	cases := []struct {
		name  string
		types []jobtype.Type
		want  string
	}{
		{"no name", []jobtype.Type{{Queue: tasks.QueueDefault, Run: noRun}}, "needs a name"},
		{"no run", []jobtype.Type{{Name: "a", Queue: tasks.QueueDefault}}, "no run entry point"},
		{"unserved queue", []jobtype.Type{{Name: "a", Queue: "elsewhere", Run: noRun}}, "not one the workers serve"},
		{"twice", []jobtype.Type{ok, ok}, "registered twice"},
		{"runs as a task", []jobtype.Type{{Name: "a", Queue: tasks.QueueDefault, Run: noRun, Tasks: map[string]asynq.Handler{tasks.TypeJobRun: handler}}}, "of its own"},
		{"shared task", []jobtype.Type{
			{Name: "a", Queue: tasks.QueueDefault, Run: noRun, Tasks: map[string]asynq.Handler{"x:step": handler}},
			{Name: "b", Queue: tasks.QueueDefault, Run: noRun, Tasks: map[string]asynq.Handler{"x:step": handler}}}, "also a task of a"},
	}
	for _, c := range cases {
		if _, err := jobtype.NewRegistry(c.types...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

func TestRegistryLookups(t *testing.T) {
	t.Parallel()
	var changed []string
	r, err := jobtype.NewRegistry(
		jobtype.Type{Name: "b_export", Queue: tasks.QueueExport, Run: noRun, AuthorizationTypes: []string{"braze"},
			Changed: func(_ context.Context, _, after *jobs.Job) error { changed = append(changed, after.ID); return nil },
			Pump:    func(context.Context, tasks.Enqueuer) error { return errors.New("redis down") }},
		jobtype.Type{Name: "a_import", Queue: tasks.QueueImport, Run: noRun},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); strings.Join(got, ",") != "a_import,b_export" {
		t.Errorf("Names = %v", got)
	}
	if got := r.Types(); len(got) != 2 || got[0].Name != "b_export" {
		t.Errorf("Types not in registration order: %v", got)
	}
	if r.Queue("a_import") != tasks.QueueImport || r.Queue("unknown") != tasks.QueueDefault {
		t.Errorf("queues: %s %s", r.Queue("a_import"), r.Queue("unknown"))
	}
	if jt := r.JobTypes(); len(jt) != 2 || jt[0].Name != "b_export" || jt[0].AuthorizationTypes[0] != "braze" {
		t.Errorf("JobTypes = %+v", jt)
	}
	ctx := context.Background()
	if err := r.Changed(ctx, nil, &jobs.Job{ID: "j1", Type: "b_export"}); err != nil || len(changed) != 1 {
		t.Errorf("change hook: %v %v", err, changed)
	}
	if err := r.Changed(ctx, nil, &jobs.Job{ID: "j2", Type: "a_import"}); err != nil || len(changed) != 1 {
		t.Errorf("a type without a change hook: %v %v", err, changed)
	}
	if err := r.Pump(ctx, nil); err == nil || !strings.Contains(err.Error(), "pump of b_export jobs: redis down") {
		t.Errorf("pump error %v, want it named after its type", err)
	}
	var none *jobtype.Registry
	if _, ok := none.Lookup("a"); ok || none.Queue("a") != tasks.QueueDefault || none.Pump(ctx, nil) != nil || none.Changed(ctx, nil, &jobs.Job{}) != nil {
		t.Error("a nil registry is not empty")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

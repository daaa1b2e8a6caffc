package jobtype_test

// A job type is one package and one line of registration: this test
// registers a test-only type, "echo", and drives it as brazesync does,
// through the API handler, a worker, the scheduler and the upload hook,
// none of which names it.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/scheduler"
	"github.com/brazesync/brazesync/tasks"
	"github.com/brazesync/brazesync/workers"
	"github.com/hibiken/asynq"
)

// echo is the test-only job type: it needs a "hook" authorization and a
// config.message, records its runs, its changes and its own task, pumps
// that task once, and takes uploads named *.echo.
type echo struct {
	mu      sync.Mutex
	runs    []string // job/trigger
	changes []string // job/state
	pumped  bool
	tasks   int
	// js is the job store, whose uploads a run takes before it looks
	// for files (the contract of TakesUpload).
	js *jobs.Store
}

const echoTask = "echo:ping"

func (e *echo) jobType() jobtype.Type {
	return jobtype.Type{
		Name:               "echo",
		Queue:              tasks.QueueDefault,
		AuthorizationTypes: []string{"hook"},
		Validate: func(_ context.Context, j *jobs.Job) error {
			if m, _ := j.Config["message"].(string); m == "" {
				return &fault.ValidationError{Field: "config.message", Message: "is required"}
			}
			return nil
		},
		Run: jobtype.RunnerFunc(func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			if err := e.js.TakeUploads(ctx, j.Account, j.ID); err != nil {
				return "", err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.runs = append(e.runs, j.ID+"/"+r.Trigger)
			return jobs.OutcomeSuccess, nil
		}),
		Tasks: map[string]asynq.Handler{echoTask: asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.tasks++
			return nil
		})},
		Pump: func(ctx context.Context, enq tasks.Enqueuer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.pumped {
				return nil
			}
			e.pumped = true
			_, err := enq.EnqueueContext(ctx, asynq.NewTask(echoTask, nil, asynq.Queue(tasks.QueueDefault)))
			return err
		},
		Changed: func(_ context.Context, _, after *jobs.Job) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changes = append(e.changes, after.ID+"/"+after.State)
			return nil
		},
		TakesUpload: func(_ *jobs.Job, _, path string) bool { return strings.HasSuffix(path, ".echo") },
	}
}

func (e *echo) seen(list *[]string, want string) func() bool {
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range *list {
			if s == want {
				return true
			}
		}
		return false
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestATestOnlyJobTypeRunsThroughAPIWorkerAndScheduler(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t) // Asynq's keys are global: a database of its own
	ns := keyspace.Namespace("bs")
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC()}

	e := &echo{}
	// The registration: one line.
	types, err := jobtype.NewRegistry(e.jobType())
	if err != nil {
		t.Fatal(err)
	}

	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	accts := accounts.New(rdb, ns, nil)
	auths := authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.Type{Name: "hook", Config: []string{"folder"},
		Validate: func(*authorizations.Authorization, map[string]string) error { return nil }}))
	js := jobs.New(rdb, ns, auths, clk.now, types.JobTypes()...)
	e.js = js
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = client.Close() })

	srv := api.New(api.Deps{Redis: rdb, Accounts: accts, Authorizations: auths, Jobs: js, Types: types, Enqueuer: client})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	w := workers.NewServer(rdb, workers.Config{Concurrency: 2})
	w.HandleJobs(js, types, nil)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	sched := scheduler.New(rdb, js, client, scheduler.Config{Tick: 20 * time.Millisecond, Now: clk.now, Types: types})
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sched.Stop)

	if _, err := accts.Create(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	_, tok, err := accts.CreateToken(ctx, "acme", accounts.NewToken{Name: "dm", Scopes: []string{accounts.ScopeDataManager}})
	if err != nil {
		t.Fatal(err)
	}
	label := "uploads"
	au, _, err := auths.Create(ctx, "acme", authorizations.Input{Type: "hook", Label: &label, Config: map[string]any{"folder": "/in"}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", hs.URL+"/api/v1/accounts/acme/jobs", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		out := map[string]any{}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
		return resp.StatusCode, out
	}

	// The type's config check answers through the API.
	code, out := post(map[string]any{"type": "echo", "label": "bad", "authorization_id": au.ID, "config": map[string]any{}})
	if e, _ := out["error"].(map[string]any); code != http.StatusUnprocessableEntity || e["field"] != "config.message" {
		t.Fatalf("bad config: %d %v", code, out)
	}

	// Created through the API: the change hook hears of it and a worker
	// runs it at once; with no schedule and not KeepsRunning, it completes.
	code, out = post(map[string]any{"type": "echo", "label": "now", "authorization_id": au.ID, "config": map[string]any{"message": "hi"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, out)
	}
	now := out["id"].(string)
	poll.Until(t, 10*time.Second, "the change hook to hear of the new job", e.seen(&e.changes, now+"/running"))
	poll.Until(t, 10*time.Second, "a worker to run the new job", e.seen(&e.runs, now+"/create"))
	poll.Until(t, 10*time.Second, "the job to complete", func() bool {
		j, err := js.Get(ctx, "acme", now)
		return err == nil && j.State == jobs.StateCompleted
	})

	// Scheduled: the scheduler enqueues its occurrence in the type's queue.
	code, out = post(map[string]any{"type": "echo", "label": "hourly", "authorization_id": au.ID, "config": map[string]any{"message": "hi"}, "schedule": "@every 1m"})
	if code != http.StatusCreated {
		t.Fatalf("create scheduled: %d %v", code, out)
	}
	scheduled := out["id"].(string)
	clk.add(61 * time.Second)
	poll.Until(t, 10*time.Second, "the scheduler to run the scheduled job", e.seen(&e.runs, scheduled+"/schedule"))

	// The scheduler pumps the type's own task to its own handler.
	poll.Until(t, 10*time.Second, "the pumped task to run", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.tasks == 1
	})

	// An upload the type takes runs the jobs of its authorization; one it
	// does not take runs none.
	up := &jobtype.Uploads{Types: types, Jobs: js, Auths: auths, Enqueuer: client, Logger: discard()}
	if n := up.Uploaded(ctx, "acme", au.ID, "/in/notes.txt"); n != 0 {
		t.Fatalf("an upload the type does not take started %d runs", n)
	}
	if n := up.Uploaded(ctx, "acme", au.ID, "/in/ping.echo"); n != 2 {
		t.Fatalf("the upload started %d runs, want 2 (both jobs of the authorization)", n)
	}
	poll.Until(t, 10*time.Second, "the upload to run both jobs", func() bool {
		return e.seen(&e.runs, now+"/upload")() && e.seen(&e.runs, scheduled+"/upload")()
	})
	// Uploads coalesce: until a run takes them, another upload joins it.
	if first, err := js.MarkUploaded(ctx, "acme", now); err != nil || !first {
		t.Fatalf("the run did not take the uploads: %v %v", first, err)
	}
	if first, err := js.MarkUploaded(ctx, "acme", now); err != nil || first {
		t.Fatalf("a second upload before a run asks for another run: %v %v", first, err)
	}
	if err := js.TakeUploads(ctx, "acme", now); err != nil {
		t.Fatal(err)
	}
	// A paused job takes no upload.
	if _, err := js.Pause(ctx, "acme", scheduled); err != nil {
		t.Fatal(err)
	}
	if n := up.Uploaded(ctx, "acme", au.ID, "/in/again.echo"); n != 1 {
		t.Fatalf("with one job paused the upload started %d runs, want 1", n)
	}
}

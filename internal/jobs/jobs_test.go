package jobs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

type fakeAuths map[string]string

func (f fakeAuths) AuthorizationType(_ context.Context, _, id string) (string, error) {
	if t, ok := f[id]; ok {
		return t, nil
	}
	return "", errors.New("not found")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func setup(t *testing.T) (*Store, *clock) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := New(rdb, ns, fakeAuths{"au_b": "braze", "au_s": "sftp"}, c.now, Type{
		Name: "demo", AuthorizationTypes: []string{"braze"},
		Validate: func(_ context.Context, j *Job) error {
			if _, ok := j.Config["fail"]; ok {
				return &fault.ValidationError{Field: "config.fail", Message: "is not allowed"}
			}
			return nil
		},
	})
	return s, c
}

func p(s string) *string { return &s }

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	cases := []struct {
		in    Input
		field string
	}{
		{Input{Type: "nope", Label: p("x"), AuthorizationID: p("au_b")}, "type"},
		{Input{Type: "demo", AuthorizationID: p("au_b")}, "label"},
		{Input{Type: "demo", Label: p("x")}, "authorization_id"},
		{Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_zz")}, "authorization_id"},
		{Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_s")}, "authorization_id"},
		{Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Schedule: p("every day")}, "schedule"},
		{Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Schedule: p("@every 1s")}, "schedule"},
		{Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Config: map[string]any{"fail": true}}, "config.fail"},
	}
	for _, c := range cases {
		_, err := s.Create(ctx, "acme", c.in)
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%+v: want error on %s, got %v", c.in, c.field, err)
		}
	}
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	if err != nil || j.State != StateRunning {
		t.Fatal(j, err)
	}
	if j, _ = s.Pause(ctx, "acme", j.ID); j.State != StatePaused {
		t.Fatal("pause")
	}
	if again, err := s.Pause(ctx, "acme", j.ID); err != nil || again.Version != j.Version {
		t.Fatalf("pausing a paused job: %v, version %d then %d; want no change", err, j.Version, again.Version)
	}
	if _, err := s.PrepareRun(ctx, "acme", j.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("run while paused: %v", err)
	}
	if j, _ = s.SetState(ctx, "acme", j.ID, StateCompleted); j.State != StatePaused {
		t.Fatal("a worker's state overrode paused")
	}
	if j, _ = s.Resume(ctx, "acme", j.ID); j.State != StateRunning {
		t.Fatal("resume")
	}
	if j, _ = s.SetState(ctx, "acme", j.ID, StateFailed); j.State != StateFailed {
		t.Fatal("failed")
	}
	if j, _ = s.PrepareRun(ctx, "acme", j.ID); j.State != StateRunning {
		t.Fatal("run again after failure")
	}
	v := j.Version
	if j, _ = s.Update(ctx, "acme", j.ID, Input{Label: p("new")}); j.Label != "new" || j.Version <= v {
		t.Fatal("update")
	}
	if j, _ = s.Delete(ctx, "acme", j.ID); j.State != StateDeleted {
		t.Fatal("delete")
	}
	for _, f := range []func(context.Context, string, string) (*Job, error){s.Pause, s.Resume, s.PrepareRun} {
		if _, err := f(ctx, "acme", j.ID); !errors.Is(err, ErrConflict) {
			t.Fatalf("transition from deleted allowed: %v", err)
		}
	}
	list, _ := s.List(ctx, "acme", false)
	if len(list) != 0 {
		t.Fatal("deleted job listed")
	}
	if _, err := s.Get(ctx, "other", j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("job visible from another account")
	}
}

func TestRunsCountersLogProgress(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	r, err := s.StartRun(ctx, "acme", j.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.Count(ctx, "acme", j.ID, r.ID, map[string]int64{"sent": 3, "failed": 1}) }()
	}
	wg.Wait()
	s.SetProgress(ctx, "acme", j.ID, map[string]any{"file": "a.csv", "bytes_read": 10})
	s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomePartial, "1 user rejected")
	s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomeSuccess, "")
	if again, _ := s.StartRun(ctx, "acme", j.ID, r.ID, "manual"); again.ID != r.ID || again.Counters["sent"] != 30 {
		t.Fatalf("restarting a run must return it: %+v", again)
	}
	d, err := s.Describe(ctx, "acme", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.LastRun == nil || d.LastRun.Counters["sent"] != 30 || d.LastRun.Counters["failed"] != 10 || d.LastRun.Outcome != OutcomePartial || d.LastRun.EndedAt == nil {
		t.Fatalf("last run: %+v", d.LastRun)
	}
	if d.Progress["file"] != "a.csv" || d.Progress["bytes_read"] != 10.0 {
		t.Fatalf("progress: %v", d.Progress)
	}
	s.Log(ctx, "acme", j.ID, Entry{Level: "error", Code: "braze_401", Message: "key rejected"})
	s.Log(ctx, "acme", j.ID, Entry{Level: "info", Code: "run_done", Message: "ok", Counters: map[string]int64{"sent": 30}})
	logs, _ := s.Logs(ctx, "acme", j.ID, 10)
	if len(logs) != 2 || logs[0].Code != "run_done" || logs[1].Code != "braze_401" || logs[0].Counters["sent"] != 30 {
		t.Fatalf("logs: %+v", logs)
	}
}

// TestFinishedRunHasItsOutcome reads runs while they finish: a run seen
// ended must carry its outcome (the end time and the outcome were once two
// writes, and a reader in between saw an ended run still "running").
func TestFinishedRunHasItsOutcome(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		r, err := s.StartRun(ctx, "acme", j.ID, "", "manual")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomeFailed, "boom"); err != nil {
				t.Error(err)
			}
		})
		for {
			got, err := s.GetRun(ctx, "acme", j.ID, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.EndedAt == nil {
				continue
			}
			if got.Outcome != OutcomeFailed || got.Error != "boom" {
				t.Fatalf("an ended run reads %q, %q; want %q, %q", got.Outcome, got.Error, OutcomeFailed, "boom")
			}
			break
		}
		wg.Wait()
	}
}

func TestScheduleClaimedOnceAcrossSchedulers(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Schedule: p("@every 1m")})
	unscheduled, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("y"), AuthorizationID: p("au_b")})
	_ = unscheduled
	if due, _ := s.ClaimDue(ctx, c.now(), 100); len(due) != 0 {
		t.Fatalf("due before its time: %v", due)
	}
	c.set(c.now().Add(61 * time.Second))
	var mu sync.Mutex
	var claimed []Due
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.ClaimDue(ctx, c.now(), 100)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			claimed = append(claimed, d...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(claimed) != 1 || claimed[0].JobID != j.ID || !claimed[0].At.Equal(time.Date(2026, 3, 1, 10, 1, 0, 0, time.UTC)) {
		t.Fatalf("claimed: %+v", claimed)
	}
	s.Pause(ctx, "acme", j.ID)
	c.set(c.now().Add(5 * time.Minute))
	if due, _ := s.ClaimDue(ctx, c.now(), 100); len(due) != 0 {
		t.Fatalf("paused job due: %v", due)
	}
	s.Resume(ctx, "acme", j.ID)
	c.set(c.now().Add(time.Minute))
	if due, _ := s.ClaimDue(ctx, c.now(), 100); len(due) != 1 {
		t.Fatalf("resumed job not due: %v", due)
	}
}

func TestNextDue(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 10, 7, 30, 0, time.UTC)
	if n, _ := NextDue("@every 5m", base); !n.Equal(time.Date(2026, 3, 1, 10, 10, 0, 0, time.UTC)) {
		t.Fatalf("interval not aligned: %v", n)
	}
	if n, _ := NextDue("0 * * * *", base); !n.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("cron: %v", n)
	}
	if _, ok := NextDue("", base); ok {
		t.Fatal("empty schedule due")
	}
}

// TestJobsOnRedisCluster changes scheduled jobs on a three-node Redis
// Cluster, where the schedule index and the jobs live in different slots:
// every change is stored (a transaction spanning both was refused with
// CROSSSLOT), and after pauses and resumes raced each other, the schedule
// holds each job exactly when it ended up running.
func TestJobsOnRedisCluster(t *testing.T) {
	t.Parallel()
	rdb := redistest.Cluster(t, 3)
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := New(rdb, keyspace.Namespace("t"+redistest.RandomID()), fakeAuths{"au_b": "braze"}, c.now, Type{Name: "demo", AuthorizationTypes: []string{"braze"}})
	ctx := context.Background()
	accounts := []string{"acme", "beta", "gamma", "delta"}
	ids := map[string]string{}
	for _, acct := range accounts {
		j, err := s.Create(ctx, acct, Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Schedule: p("@every 1h")})
		if err != nil {
			t.Fatal(err)
		}
		ids[acct] = j.ID
		if _, err := s.Update(ctx, acct, j.ID, Input{Label: p("renamed")}); err != nil {
			t.Fatalf("update on a cluster: %v", err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					_, err = s.Pause(ctx, acct, j.ID)
				} else {
					_, err = s.Resume(ctx, acct, j.ID)
				}
				if err != nil {
					t.Errorf("pause or resume on a cluster: %v", err)
				}
			})
		}
		wg.Wait()
	}
	running := map[string]bool{}
	for _, acct := range accounts {
		j, err := s.Get(ctx, acct, ids[acct])
		if err != nil {
			t.Fatal(err)
		}
		running[acct] = j.State == StateRunning
	}
	members, err := rdb.ZRange(ctx, s.ns.Global("schedule"), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[string]bool{}
	for _, m := range members {
		acct, _, _ := SplitScheduleMember(m)
		scheduled[acct] = true
	}
	for _, acct := range accounts {
		if running[acct] != scheduled[acct] {
			t.Errorf("account %s: job running %v, in the schedule %v", acct, running[acct], scheduled[acct])
		}
	}
	due, err := s.ClaimDue(ctx, c.now().Add(2*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range running {
		if r {
			want++
		}
	}
	if len(due) != want {
		t.Errorf("%d occurrences claimed, want %d (one per running job)", len(due), want)
	}
}

// TestCountOnce: counters given under one key are added once, however
// many workers count them at once; another key counts again.
func TestCountOnce(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	r, err := s.StartRun(ctx, "acme", j.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var counted atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.CountOnce(ctx, "acme", j.ID, r.ID, "a.csv\x00100\x001700000000", map[string]int64{"rows_read": 100, "files_imported": 1})
			if err != nil {
				t.Error(err)
			}
			if ok {
				counted.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok, err := s.CountOnce(ctx, "acme", j.ID, r.ID, "b.csv", map[string]int64{"rows_read": 5, "files_imported": 1}); !ok || err != nil {
		t.Fatalf("another key: %v %v", ok, err)
	}
	got, err := s.GetRun(ctx, "acme", j.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counted.Load() != 1 || got.Counters["rows_read"] != 105 || got.Counters["files_imported"] != 2 || len(got.Counters) != 2 {
		t.Fatalf("counted %d times; counters %v", counted.Load(), got.Counters)
	}
}

// TestListCarriesTheNewestRun: the list answers each job's newest run, as
// GET .../jobs/{id} does, and none for a job that never ran.
func TestListCarriesTheNewestRun(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	ran, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("ran"), AuthorizationID: p("au_b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("never"), AuthorizationID: p("au_b")}); err != nil {
		t.Fatal(err)
	}
	first, err := s.StartRun(ctx, "acme", ran.ID, "", "create")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, "acme", ran.ID, first.ID, OutcomeSuccess, ""); err != nil {
		t.Fatal(err)
	}
	second, err := s.StartRun(ctx, "acme", ran.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d jobs listed, want 2", len(list))
	}
	for _, j := range list {
		switch j.Label {
		case "ran":
			if j.LastRun == nil || j.LastRun.ID != second.ID || j.LastRun.Trigger != "manual" {
				t.Fatalf("job that ran: last run %+v, want %s", j.LastRun, second.ID)
			}
		case "never":
			if j.LastRun != nil {
				t.Fatalf("job that never ran: last run %+v", j.LastRun)
			}
		}
	}
}

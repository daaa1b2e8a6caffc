package jobs

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

func healthCodes(t *testing.T, s *Store, id string) []string {
	t.Helper()
	logs, err := s.Logs(context.Background(), "acme", id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range logs {
		out = append(out, e.Code+"/"+e.Health)
	}
	return out
}

// TestHealthRetryingFailingRecovered walks a job through a transient
// problem that outlasts the retries and its recovery, and checks the log
// gets one entry per change and at most one per interval meanwhile.
func TestHealthRetryingFailingRecovered(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.SetHealthPolicy(10*time.Minute, time.Minute)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	if j.Health != HealthOK || j.LastError != nil {
		t.Fatalf("a new job: health %q, last error %+v", j.Health, j.LastError)
	}
	start := c.now()
	unreachable := Problem{Code: "braze_unreachable", Message: "Braze cannot be reached", Counters: map[string]int64{"requests": 4, "retried": 4, "failed": 4}}
	for i := range 5 { // five failed batches within a minute
		c.set(start.Add(time.Duration(i) * 10 * time.Second))
		if err := s.ReportProblem(ctx, "acme", j.ID, unreachable); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.Describe(ctx, "acme", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Health != HealthRetrying || d.LastError == nil || d.LastError.Code != "braze_unreachable" || !d.LastError.At.Equal(start.Add(40*time.Second)) {
		t.Fatalf("after transient failures: %q %+v", d.Health, d.LastError)
	}
	logs, _ := s.Logs(ctx, "acme", j.ID, 10)
	if len(logs) != 1 || logs[0].Health != HealthRetrying || logs[0].Level != "warn" || logs[0].Counters["requests"] != 4 {
		t.Fatalf("five failures within a minute must log once: %+v", logs)
	}
	c.set(start.Add(70 * time.Second))
	s.ReportProblem(ctx, "acme", j.ID, unreachable)
	logs, _ = s.Logs(ctx, "acme", j.ID, 10)
	if len(logs) != 2 || logs[0].Counters["requests"] != 24 || logs[0].Counters["failed"] != 24 || !logs[0].Since.Equal(start) {
		t.Fatalf("a minute later, one entry with the counts since the start: %+v", logs)
	}
	// Retries outlasted: failing.
	c.set(start.Add(10*time.Minute + time.Second))
	s.ReportProblem(ctx, "acme", j.ID, unreachable)
	if h, le, _ := s.Health(ctx, "acme", j.ID); h != HealthFailing || le.Code != "braze_unreachable" {
		t.Fatalf("after the failing interval: %q %+v", h, le)
	}
	// A success: ok, and the log says so.
	if changed, err := s.ReportOK(ctx, "acme", j.ID); err != nil || !changed {
		t.Fatalf("recovery: %v %v", changed, err)
	}
	if changed, _ := s.ReportOK(ctx, "acme", j.ID); changed {
		t.Fatal("a second success changed the health again")
	}
	list, err := s.List(ctx, "acme", false)
	if err != nil || len(list) != 1 || list[0].Health != HealthOK || list[0].LastError != nil {
		t.Fatalf("listed after recovery: %+v %v", list, err)
	}
	want := []string{"recovered/ok", "braze_unreachable/failing", "braze_unreachable/retrying", "braze_unreachable/retrying"}
	if got := healthCodes(t, s, j.ID); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("log: %v, want %v", got, want)
	}
	// A new problem starts its counts afresh.
	s.ReportProblem(ctx, "acme", j.ID, Problem{Code: "braze_5xx", Message: "Braze answered 503", Counters: map[string]int64{"requests": 1}})
	logs, _ = s.Logs(ctx, "acme", j.ID, 1)
	if logs[0].Counters["requests"] != 1 || logs[0].Counters["failed"] != 0 {
		t.Fatalf("counts of a new problem: %+v", logs[0])
	}
}

func TestHealthPermanentAndKept(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	key := Problem{Code: "braze_401", Message: "key rejected: check the key and the instance", Permanent: true}
	s.ReportProblem(ctx, "acme", j.ID, key)
	s.ReportProblem(ctx, "acme", j.ID, key)
	if h, le, _ := s.Health(ctx, "acme", j.ID); h != HealthFailing || le.Code != "braze_401" {
		t.Fatalf("permanent: %q %+v", h, le)
	}
	if got := healthCodes(t, s, j.ID); len(got) != 1 {
		t.Fatalf("a permanent problem met twice at once is logged once: %v", got)
	}
	// A problem kept by ReportOK stays.
	s.ReportProblem(ctx, "acme", j.ID, Problem{Code: "import_file_failed", Message: "a.csv: bad file", Permanent: true})
	if changed, err := s.ReportOK(ctx, "acme", j.ID, "import_file_failed"); err != nil || changed {
		t.Fatalf("a kept problem was cleared: %v %v", changed, err)
	}
	if h, _, _ := s.Health(ctx, "acme", j.ID); h != HealthFailing {
		t.Fatalf("kept: %q", h)
	}
}

// TestNoOpTransitionsKeepTheVersion: pausing a paused job, resuming or
// running a running one and deleting a deleted one change nothing.
func TestNoOpTransitionsKeepTheVersion(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b")})
	check := func(what string, f func(context.Context, string, string) (*Job, error), state string, v int64) {
		t.Helper()
		got, err := f(ctx, "acme", j.ID)
		if err != nil || got.State != state || got.Version != v {
			t.Fatalf("%s: %v %+v, want state %s version %d", what, err, got, state, v)
		}
		if stored, _ := s.Get(ctx, "acme", j.ID); stored.Version != v {
			t.Fatalf("%s: stored version %d, want %d", what, stored.Version, v)
		}
	}
	check("resume running", s.Resume, StateRunning, 1)
	check("run running", s.PrepareRun, StateRunning, 1)
	check("pause", s.Pause, StatePaused, 2)
	check("pause paused", s.Pause, StatePaused, 2)
	check("delete", s.Delete, StateDeleted, 3)
	check("delete deleted", s.Delete, StateDeleted, 3)
}

// failingHook fails every command (alone or in a pipeline) named cmd.
type failingHook struct{ cmd string }

var errInjected = errors.New("injected failure")

func (h failingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h failingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		if c.Name() == h.cmd {
			c.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, c)
	}
}
func (h failingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == h.cmd {
				return errInjected
			}
		}
		return next(ctx, cmds)
	}
}

// TestRunTrimFailureIsReturned: a run start whose trim of old runs fails
// says so (it was ignored).
func TestRunTrimFailureIsReturned(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, fakeAuths{"au_b": "braze"}, nil, Type{Name: "demo"})
	ctx := context.Background()
	j, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x")})
	if err != nil {
		t.Fatal(err)
	}
	for range runsKept {
		if _, err := s.StartRun(ctx, "acme", j.ID, "", "manual"); err != nil {
			t.Fatal(err)
		}
	}
	rdb.AddHook(failingHook{"ltrim"})
	if _, err := s.StartRun(ctx, "acme", j.ID, "", "manual"); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "trimming runs of job "+j.ID) {
		t.Fatalf("a failed trim: %v", err)
	}
}

// TestHealthOnRedisDown: health writes and reads against a Redis that does
// not answer return their errors.
func TestHealthOnRedisDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, keyspace.Namespace("bs"), fakeAuths{}, nil, Type{Name: "demo"})
	ctx := context.Background()
	if err := s.ReportProblem(ctx, "acme", "job_1", Problem{Code: "braze_5xx"}); err == nil {
		t.Fatal("ReportProblem on a closed port succeeded")
	}
	if _, err := s.ReportOK(ctx, "acme", "job_1"); err == nil {
		t.Fatal("ReportOK on a closed port succeeded")
	}
	if _, _, err := s.Health(ctx, "acme", "job_1"); err == nil {
		t.Fatal("Health on a closed port succeeded")
	}
}

// TestClaimDueUnscheduleFailureIsReturned: the schedule entry of a job
// that is gone is removed, and a failed removal is an error (it was
// ignored).
func TestClaimDueUnscheduleFailureIsReturned(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, fakeAuths{}, nil, Type{Name: "demo"})
	ctx := context.Background()
	if err := rdb.ZAdd(ctx, ns.Global("schedule"), redis.Z{Score: 1, Member: "acme/job_gone"}).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.AddHook(failingHook{"zrem"})
	if _, err := s.ClaimDue(ctx, time.Now(), 10); !errors.Is(err, errInjected) {
		t.Fatalf("a failed unschedule: %v", err)
	}
}

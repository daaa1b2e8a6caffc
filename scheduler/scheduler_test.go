package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type noAuths struct{}

func (noAuths) AuthorizationType(context.Context, string, string) (string, error) {
	return "", errors.New("none")
}

func str(s string) *string { return &s }

// TestTwoSchedulersEnqueueEachOccurrenceOnce runs two schedulers over one
// job and checks each due occurrence reaches Asynq once, in the queue of
// the job's type.
func TestTwoSchedulersEnqueueEachOccurrenceOnce(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ns := keyspace.Namespace("bs")
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC)}
	types, err := jobtype.NewRegistry(jobtype.Type{Name: "noop", Queue: tasks.QueueImport,
		Run: jobtype.RunnerFunc(func(context.Context, *jobs.Job, *jobs.Run) (string, error) { return "", nil })})
	if err != nil {
		t.Fatal(err)
	}
	js := jobs.New(rdb, ns, noAuths{}, c.now, types.JobTypes()...)
	ctx := context.Background()
	j, err := js.Create(ctx, "acme", jobs.Input{Type: "noop", Label: str("x"), Schedule: str("@every 1m")})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	a := New(rdb, js, client, Config{Now: c.now, Types: types})
	b := New(rdb, js, client, Config{Now: c.now, Types: types})
	total := 0
	for i := 0; i < 5; i++ {
		c.add(time.Minute)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, s := range []*Scheduler{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.Tick(ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	info, err := insp.GetQueueInfo(tasks.QueueImport)
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || info.Pending != 5 {
		t.Fatalf("enqueued %d (pending %d), want 5", total, info.Pending)
	}
	pending, _ := insp.ListPendingTasks(tasks.QueueImport)
	for _, p := range pending {
		var jr tasks.JobRun
		tasks.Decode(asynq.NewTask(p.Type, p.Payload), &jr)
		if jr.JobID != j.ID || jr.Trigger != "schedule" || jr.DueAt.Second() != 0 {
			t.Fatalf("task payload %+v", jr)
		}
	}
}

// TestChangesTakeEffectAtNextTick: the loop claims a new job's first
// occurrence without any resync delay.
func TestLoopPicksUpNewJobs(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ns := keyspace.Namespace("bs")
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC)}
	js := jobs.New(rdb, ns, noAuths{}, c.now, jobs.Type{Name: "noop"})
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	claimed := make(chan int, 100)
	s := New(rdb, js, client, Config{Tick: 20 * time.Millisecond, Now: c.now, Claimed: func(n int) { claimed <- n }})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if _, err := js.Create(ctx, "acme", jobs.Input{Type: "noop", Label: str("x"), Schedule: str("@every 1m")}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	deadline := time.After(15 * time.Second)
	for {
		select {
		case n := <-claimed:
			if n > 0 {
				s.Stop()
				s.Stop() // idempotent
				return
			}
		case <-deadline:
			t.Fatal("the new job's first occurrence was not enqueued within 15 s of falling due")
		}
	}
}

// refusingEnqueuer is an Asynq client whose Redis refuses writes.
type refusingEnqueuer struct{}

var errRefused = errors.New("READONLY You can't write against a read only replica")

func (refusingEnqueuer) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return nil, errRefused
}

// TestTickReturnsAnOccurrenceItCouldNotEnqueue: a claimed occurrence whose
// run cannot be enqueued is an error of the round, naming the job (it was
// only logged, and the round reported success).
func TestTickReturnsAnOccurrenceItCouldNotEnqueue(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC)}
	js := jobs.New(rdb, ns, noAuths{}, c.now, jobs.Type{Name: "noop"})
	ctx := context.Background()
	j, err := js.Create(ctx, "acme", jobs.Input{Type: "noop", Label: str("x"), Schedule: str("@every 1m")})
	if err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	n, err := New(rdb, js, refusingEnqueuer{}, Config{Now: c.now}).Tick(ctx)
	if n != 0 || !errors.Is(err, errRefused) || !strings.Contains(err.Error(), j.ID) {
		t.Fatalf("tick: %d %v", n, err)
	}
}

// TestJobThatNeverFiresIsNotRun: a job whose schedule never fires (30
// February), stored and indexed at the zero time by an older version, is
// not enqueued however often the scheduler ticks, and leaves the index.
func TestJobThatNeverFiresIsNotRun(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ns := keyspace.Namespace("bs")
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 5, 0, time.UTC)}
	js := jobs.New(rdb, ns, noAuths{}, c.now, jobs.Type{Name: "noop"})
	ctx := context.Background()
	if _, err := js.Create(ctx, "acme", jobs.Input{Type: "noop", Label: str("x"), Schedule: str("0 0 30 2 *")}); err == nil {
		t.Fatal("a schedule on 30 February was accepted")
	}
	j := jobs.Job{ID: "job_feb30", Account: "acme", Type: "noop", Label: "x", Schedule: "0 0 30 2 *", State: jobs.StateRunning, Version: 1, Config: map[string]any{}}
	b, _ := json.Marshal(j)
	if err := rdb.HSet(ctx, ns.Account("acme", "jobs"), j.ID, b).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, ns.Global("schedule"), redis.Z{Score: float64(time.Time{}.Unix()), Member: "acme/" + j.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	s := New(rdb, js, asynq.NewClientFromRedisClient(rdb), Config{Now: c.now})
	total := 0
	for range 20 {
		c.add(time.Second)
		n, err := s.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 0 {
		t.Fatalf("a job that never fires was enqueued %d times in 20 ticks", total)
	}
	if n, err := rdb.ZCard(ctx, ns.Global("schedule")).Result(); err != nil || n != 0 {
		t.Fatalf("schedule index holds %d entries (%v)", n, err)
	}
}

package export

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

func TestProblemCodes(t *testing.T) {
	t.Parallel()
	c := Counters{"requests": 4, "retried": 4}
	cases := []struct {
		err       error
		code      string
		permanent bool
	}{
		{&braze.Error{Class: braze.Retryable, Message: "no answer from Braze: connection refused"}, CodeUnreachable, false},
		{&braze.Error{Class: braze.Retryable, Status: 503}, Code5xx, false},
		{permanent(&braze.Error{Class: braze.Permanent, Status: 401, Hint: "key rejected"}, ""), "braze_401", true},
		{permanent(&braze.Error{Class: braze.Permanent, Message: "braze api_key is empty"}, CodeConfig), CodeConfig, true},
		{errors.Join(permanent(&braze.Error{Class: braze.Permanent, Status: 403}, ""), errors.New("x")), "braze_403", true},
	}
	for _, k := range cases {
		p, ok := problemOf(k.err, c)
		if !ok || p.Code != k.code || p.Permanent != k.permanent || p.Message == "" || p.Counters["requests"] != 4 {
			t.Errorf("%v: %+v %v, want code %s permanent %v", k.err, p, ok, k.code, k.permanent)
		}
	}
	for _, err := range []error{fault.Wait(time.Second, "rate limit"), &braze.Error{Class: braze.RateLimited, Status: 429}, errors.New("redis: connection refused"), context.Canceled} {
		if p, ok := problemOf(err, c); ok {
			t.Errorf("%v is not a delivery problem: %+v", err, p)
		}
	}
}

// scriptFails fails the EVALSHA and EVAL of one script.
type scriptFails struct{ s *redis.Script }

var errInjected = errors.New("injected failure")

func (h scriptFails) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h scriptFails) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		if a := c.Args(); len(a) > 1 && a[1] == h.s.Hash() {
			c.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, c)
	}
}
func (h scriptFails) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// The Redis failures of a sender's bookkeeping are returned (they were
// ignored): users not given back, a flush request not cleared.
func TestBookkeepingFailuresAreReturned(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	e := New(rdb, ns, jobs.New(rdb, ns, nil, nil), nil, nil, nil, nil, nil, Options{})
	ctx := context.Background()
	rdb.AddHook(scriptFails{releaseScript})
	if err := e.release(ctx, "acme", "job_1", []lease{{id: "p1", deadline: 1}}); !errors.Is(err, errInjected) {
		t.Fatalf("release: %v", err)
	}
	rdb2, ns2 := redistest.Client(t)
	e2 := New(rdb2, ns2, jobs.New(rdb2, ns2, nil, nil), nil, nil, nil, nil, nil, Options{})
	rdb2.AddHook(scriptFails{hdelIfScript})
	if err := e2.clearFlush(ctx, "acme", "job_1", "token"); !errors.Is(err, errInjected) {
		t.Fatalf("clearFlush: %v", err)
	}
}

func TestCurrentRunOnRedisDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	e := New(rdb, keyspace.Namespace("bs"), jobs.New(rdb, keyspace.Namespace("bs"), nil, nil), nil, nil, nil, nil, nil, Options{})
	if _, err := e.currentRun(context.Background(), "acme", "job_1"); err == nil {
		t.Fatal("currentRun on a closed port answered no run (it hid the error)")
	}
}

// A user omitted for want of an identifier is kept aside, and waits again
// when the job's identifier changes, also when the change lands between
// its plan and its completion.
func TestOmittedUsersWaitAgainOnIdentifierChange(t *testing.T) {
	t.Parallel()
	e, _, acct, job := testEngine(t)
	ctx := context.Background()
	byBrazeID := Config{IdentifierKind: braze.ExternalID, IdentifierField: "braze_id"}
	byExternalID := Config{IdentifierKind: braze.ExternalID, IdentifierField: "external_id"}
	if n, err := e.reconsider(ctx, acct, job, byBrazeID); err != nil || n != 0 {
		t.Fatalf("first identifier: %d %v", n, err)
	}
	complete := func(cfg Config, ids ...string) {
		t.Helper()
		now := e.nowMS()
		deadline := now + 60_000
		args := []any{now, identifierOf(cfg), "c:leases_lost", 0}
		for _, id := range ids {
			if err := e.rdb.ZAdd(ctx, e.k.inflight(acct, job), redis.Z{Score: float64(deadline), Member: id}).Err(); err != nil {
				t.Fatal(err)
			}
			args = append(args, id, deadline, "o", "")
		}
		keys := []string{e.k.dirty(acct, job), e.k.inflight(acct, job), e.k.sent(acct, job), e.k.omitted(acct, job), e.k.state(acct, job)}
		if err := completeScript.Run(ctx, e.rdb, keys, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waiting := func() int64 { n, _ := e.rdb.ZCard(ctx, e.k.dirty(acct, job)).Result(); return n }
	complete(byBrazeID, "p1", "p2")
	if n, _ := e.rdb.SCard(ctx, e.k.omitted(acct, job)).Result(); n != 2 || waiting() != 0 {
		t.Fatalf("omitted %d, waiting %d", n, waiting())
	}
	if n, err := e.reconsider(ctx, acct, job, byBrazeID); err != nil || n != 0 {
		t.Fatalf("an unchanged identifier moved %d users (%v)", n, err)
	}
	if n, err := e.reconsider(ctx, acct, job, byExternalID); err != nil || n != 2 || waiting() != 2 {
		t.Fatalf("identifier changed: moved %d (%v), waiting %d", n, err, waiting())
	}
	// A batch planned with the old identifier and completed after the
	// change: its omitted user waits again.
	complete(byBrazeID, "p3")
	if n, _ := e.rdb.SCard(ctx, e.k.omitted(acct, job)).Result(); n != 0 || waiting() != 3 {
		t.Fatalf("late batch: omitted %d, waiting %d", n, waiting())
	}
}

// A batch's completion counts into the run in the same step: the users it
// recorded, and the leases it found lost (whose users wait again).
func TestCompletionCountsInTheSameStep(t *testing.T) {
	t.Parallel()
	e, js, acct, job := testEngine(t)
	ctx := context.Background()
	run, err := js.StartRun(ctx, acct, job, "run_1", "changes")
	if err != nil {
		t.Fatal(err)
	}
	now := e.nowMS()
	deadline := now + 60_000
	for _, id := range []string{"p1", "p2"} {
		if err := e.rdb.ZAdd(ctx, e.k.inflight(acct, job), redis.Z{Score: float64(deadline), Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{IdentifierKind: braze.ExternalID, IdentifierField: "braze_id"}
	s := &sender{e: e, acct: acct, j: &jobs.Job{ID: job}, cfg: cfg, runID: run.ID}
	b := &batch{
		// p3's lease is not in flight any more: lost.
		leased:  []lease{{id: "p1", deadline: deadline}, {id: "p2", deadline: deadline}, {id: "p3", deadline: deadline}},
		sending: []*user{{id: "p1", state: "external_id=a\x1fx", dataPoints: 1}, {id: "p3", state: "external_id=c\x1fx", dataPoints: 1}},
		noIdent: map[string]bool{},
		c:       Counters{"unchanged": 1, "requests": 1},
	}
	if err := s.complete(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	r, err := js.GetRun(ctx, acct, job, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"sent": 2, "data_points": 2, "unchanged": 1, "requests": 1, "leases_lost": 1}
	for k, v := range want {
		if r.Counters[k] != v {
			t.Errorf("run counter %s = %d, want %d (all: %v)", k, r.Counters[k], v, r.Counters)
		}
	}
	if st, _ := e.rdb.HGet(ctx, e.k.sent(acct, job), "p1").Result(); acceptedState(st) != "external_id=a\x1fx" {
		t.Errorf("p1's accepted state = %q", st)
	}
	if n, _ := e.rdb.ZScore(ctx, e.k.dirty(acct, job), "p3").Result(); n == 0 {
		t.Error("p3, whose lease was lost, does not wait again")
	}
}

// acceptedState is a sent hash value without its accepted time.
func acceptedState(v string) string {
	s, _ := stateCore(v)
	return s
}

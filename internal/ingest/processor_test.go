package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

func TestProcessorTakesOverACrashedConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	ctx := context.Background()
	for i := range 3 {
		if a := post(t, b.collectURL("web"), "application/json", fmt.Sprintf(`{"email":"c%d@x.io"}`, i)); a.status != 200 {
			t.Fatalf("post: %d", a.status)
		}
	}
	// A consumer reads every request and dies before acknowledging them.
	queue := b.ns.Account(b.acct, "ingest")
	if err := b.rdb.XGroupCreateMkStream(ctx, queue, "profiles", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "profiles", Consumer: "crashed", Streams: []string{queue, ">"}, Count: 10, Block: -1}).Result()
	if err != nil || len(got[0].Messages) != 3 {
		t.Fatalf("crashed consumer read %v, %v", got, err)
	}
	startProcessor(t, b.rdb, b.ns, b.store, ingest.ProcessorOptions{ClaimIdle: 50 * time.Millisecond, ClaimInterval: 10 * time.Millisecond})
	for i := range 3 {
		b.waitProfile(t, "email", fmt.Sprintf("c%d@x.io", i), nil)
	}
	waitQueueEmpty(t, b)
	pend, err := b.rdb.XPending(ctx, queue, "profiles").Result()
	if err != nil || pend.Count != 0 {
		t.Errorf("pending = %+v, %v; want none", pend, err)
	}
}

type failingUpserter struct {
	failures atomic.Int64 // calls left that fail; negative fails forever
	calls    atomic.Int64
	next     ingest.Upserter
}

func (f *failingUpserter) Upsert(ctx context.Context, acct, stream string, recs []profiles.Record) (profiles.Result, error) {
	f.calls.Add(1)
	if f.failures.Load() < 0 || f.failures.Add(-1) >= 0 {
		return profiles.Result{}, errors.New("profiles unavailable")
	}
	return f.next.Upsert(ctx, acct, stream, recs)
}

func TestProcessorRetriesAfterAFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	up := &failingUpserter{next: b.store}
	up.failures.Store(2)
	startProcessor(t, b.rdb, b.ns, up, ingest.ProcessorOptions{RetryBackoff: time.Millisecond})
	if a := post(t, b.collectURL("web"), "application/json", `{"email":"retry@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	b.waitProfile(t, "email", "retry@x.io", nil)
	waitQueueEmpty(t, b)
	if n := up.calls.Load(); n < 3 {
		t.Errorf("upsert calls = %d, want at least 3 (two failures, one success)", n)
	}
	if n, _ := b.rdb.XLen(context.Background(), b.ns.Account(b.acct, "ingest", "dead")).Result(); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
}

func TestProcessorDeadLettersWhatAlwaysFails(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	up := &failingUpserter{next: b.store}
	up.failures.Store(-1)
	startProcessor(t, b.rdb, b.ns, up, ingest.ProcessorOptions{RetryBackoff: time.Millisecond, MaxDeliveries: 3})
	if a := post(t, b.collectURL("web"), "application/json", `{"email":"poison@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	dead := b.ns.Account(b.acct, "ingest", "dead")
	poll.Until(t, 10*time.Second, "a dead letter", func() bool {
		n, _ := b.rdb.XLen(context.Background(), dead).Result()
		return n == 1
	})
	waitQueueEmpty(t, b)
	msgs, err := b.rdb.XRange(context.Background(), dead, "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["error"] == "" || msgs[0].Values["b"] != `{"email":"poison@x.io"}` {
		t.Errorf("dead letter = %+v, %v; want the request body and the error", msgs, err)
	}
	if n := up.calls.Load(); n != 3 {
		t.Errorf("upsert calls = %d, want 3 (MaxDeliveries)", n)
	}
}

func TestProcessorStopIsIdempotent(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	p := ingest.NewProcessor(rdb, ns, profiles.New(rdb, ns, nil, profiles.Options{}), ingest.ProcessorOptions{})
	p.Stop() // before Start
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	p.Stop()
	p.Stop()
}

// redisServer runs a private redis-server with an append-only file that is
// fsynced on every write, so that it can be killed and restarted.
type redisServer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{t: t, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer c.Close()
	poll.Until(s.t, 10*time.Second, "redis-server to answer", func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (s *redisServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func TestCollectSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	srv := newRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	ns := keyspace.Namespace("t" + redistest.RandomID())
	st := profiles.New(rdb, ns, nil, profiles.Options{})
	c := ingest.NewCollector(rdb, ns, st, ingest.CollectorOptions{})
	b := &bundle{store: st, collector: c, url: newCollectServer(t, c), acct: "acct-" + redistest.RandomID()}

	if a := post(t, b.collectURL("web"), "application/json", `{"email":"before@x.io"}`); a.status != 200 {
		t.Fatalf("before the outage: %d %+v", a.status, a.body)
	}
	srv.kill() // Redis crashes after answering; the request was fsynced
	a := post(t, b.collectURL("web"), "application/json", `{"email":"during@x.io"}`)
	if a.status != 503 {
		t.Fatalf("during the outage: %d %+v, want 503", a.status, a.body)
	}
	srv.start()
	// Braze retries the 503.
	poll.Until(t, 10*time.Second, "the retried request to be accepted", func() bool {
		return post(t, b.collectURL("web"), "application/json", `{"email":"during@x.io"}`).status == 200
	})
	startProcessor(t, rdb, ns, st, ingest.ProcessorOptions{})
	b.waitProfile(t, "email", "before@x.io", nil)
	b.waitProfile(t, "email", "during@x.io", nil)
}

func TestProcessorForgetsGoneConsumers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	ctx := context.Background()
	// A request makes the account active so that the processor visits it.
	if a := post(t, b.collectURL("web"), "application/json", `{"email":"g@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	queue := b.ns.Account(b.acct, "ingest")
	if err := b.rdb.XGroupCreateMkStream(ctx, queue, "profiles", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// A consumer of a process that is gone, with nothing pending.
	if err := b.rdb.XGroupCreateConsumer(ctx, queue, "profiles", "gone-1234").Err(); err != nil {
		t.Fatal(err)
	}
	startProcessor(t, b.rdb, b.ns, b.store, ingest.ProcessorOptions{ClaimInterval: time.Millisecond, ForgetConsumersAfter: time.Nanosecond})
	poll.Until(t, 10*time.Second, "the gone consumer to be removed", func() bool {
		// Keep the account active: the processor only visits accounts with
		// queued requests, and may drain the first one before its check.
		post(t, b.collectURL("web"), "application/json", `{"email":"g@x.io"}`)
		cs, err := b.rdb.XInfoConsumers(ctx, queue, "profiles").Result()
		if err != nil {
			return false
		}
		for _, c := range cs {
			if c.Name == "gone-1234" {
				return false
			}
		}
		return true
	})
}

// An account with a backlog does not keep the processor from the others:
// with one slot and reads of one request, which are never short, only the
// turn ends its drain, and a second account's request is applied while the
// first one's backlog is still queued.
func TestProcessorTakesTurnsBetweenAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	other := &bundle{rdb: b.rdb, ns: b.ns, store: b.store, url: b.url, acct: "other-" + redistest.RandomID()}
	for i := range 600 {
		if a := post(t, b.collectURL("web"), "application/json", fmt.Sprintf(`{"email":"t%d@x.io"}`, i)); a.status != 200 {
			t.Fatalf("post %d: %d", i, a.status)
		}
	}
	startProcessor(t, b.rdb, b.ns, b.store, ingest.ProcessorOptions{Concurrency: 1, ReadCount: 1, Turn: 20 * time.Millisecond})
	b.waitProfile(t, "email", "t0@x.io", nil)
	if a := post(t, other.collectURL("web"), "application/json", `{"email":"o@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	other.waitProfile(t, "email", "o@x.io", nil)
	if n := b.queueLen(t); n == 0 {
		t.Error("the second account waited until the first one's backlog was applied")
	}
}

// While another account waits for the processor's one slot, an account
// that has caught up gives the slot away instead of lingering for more.
func TestProcessorDoesNotLingerWhileOthersWait(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	other := &bundle{rdb: b.rdb, ns: b.ns, store: b.store, url: b.url, acct: "other-" + redistest.RandomID()}
	startProcessor(t, b.rdb, b.ns, b.store, ingest.ProcessorOptions{Concurrency: 1, Linger: 5 * time.Second, Turn: time.Minute})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a steady trickle into the first account
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // the pace of the trickle
			}
			resp, err := http.Post(b.collectURL("web"), "application/json", strings.NewReader(fmt.Sprintf(`{"email":"t%d@x.io"}`, i)))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	b.waitProfile(t, "email", "t0@x.io", nil)
	posted := time.Now()
	if a := post(t, other.collectURL("web"), "application/json", `{"email":"o@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	other.waitProfile(t, "email", "o@x.io", nil)
	if d := time.Since(posted); d >= 2500*time.Millisecond {
		t.Errorf("the waiting account's request took %v, as if the first had lingered on (5 s)", d)
	}
}

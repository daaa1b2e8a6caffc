package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type bundle struct {
	rdb       *redis.Client
	ns        keyspace.Namespace
	store     *profiles.Store
	collector *ingest.Collector
	url       string
	acct      string
}

type options struct {
	collector    ingest.CollectorOptions
	processor    ingest.ProcessorOptions
	noProcessor  bool
	upserter     ingest.Upserter
	rdbCollector redis.UniversalClient
}

// setup starts a collector behind a real HTTP server at /c/{account}/{stream}
// and, unless told otherwise, a processor.
func setup(t *testing.T, o options) *bundle {
	t.Helper()
	rdb, ns := redistest.Client(t)
	st := profiles.New(rdb, ns, nil, profiles.Options{})
	crdb := o.rdbCollector
	if crdb == nil {
		crdb = rdb
	}
	c := ingest.NewCollector(crdb, ns, st, o.collector)
	b := &bundle{rdb: rdb, ns: ns, store: st, collector: c, url: newCollectServer(t, c), acct: "acct-" + redistest.RandomID()}
	if !o.noProcessor {
		up := o.upserter
		if up == nil {
			up = st
		}
		startProcessor(t, rdb, ns, up, o.processor)
	}
	return b
}

// newCollectServer serves c at POST /c/{account}/{stream} and returns its URL.
func newCollectServer(t *testing.T, c *ingest.Collector) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /c/{account}/{stream}", func(w http.ResponseWriter, r *http.Request) {
		c.ServeCollect(w, r, r.PathValue("account"), r.PathValue("stream"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func startProcessor(t *testing.T, rdb redis.UniversalClient, ns keyspace.Namespace, up ingest.Upserter, o ingest.ProcessorOptions) *ingest.Processor {
	t.Helper()
	if o.Consumer == "" {
		o.Consumer = "test-" + redistest.RandomID()
	}
	o.PollInterval = 5 * time.Millisecond
	p := ingest.NewProcessor(rdb, ns, up, o)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

type answer struct {
	status     int
	retryAfter string
	body       ingest.Response
}

func post(t *testing.T, url, contentType, body string) answer {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return a
}

// postJSON posts a JSON body and reports an error unless the answer is 200;
// it may run in a goroutine of the test.
func postJSON(t *testing.T, url, body string) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Errorf("post: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("post: %d", resp.StatusCode)
	}
}

func (b *bundle) collectURL(stream string) string { return b.url + "/c/" + b.acct + "/" + stream }

// waitProfile polls until the profile with the identity exists and check
// accepts it.
func (b *bundle) waitProfile(t *testing.T, field, value string, check func(*profiles.Profile) bool) *profiles.Profile {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := b.store.Lookup(context.Background(), b.acct, field, value)
		if err == nil && (check == nil || check(p)) {
			return p
		}
		if err != nil && !errors.Is(err, profiles.ErrNotFound) {
			t.Fatalf("Lookup: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("profile %s=%s not applied within 5s (last: %v, %v)", field, value, p, err)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func (b *bundle) queueLen(t *testing.T) int64 {
	t.Helper()
	n, err := b.rdb.XLen(context.Background(), b.ns.Account(b.acct, "ingest")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCollectEveryBodyFormat(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	cases := []struct {
		name, ct, body string
		count          int
		email          string
	}{
		{"object", "application/json", `{"email":"obj@x.io","city":"Oslo","braze_id":"b1","date_of_birth":"19820101","phone_number":"+47 1"}`, 1, "obj@x.io"},
		{"array", "application/json", `[{"email":"arr1@x.io","city":"Oslo"},{"email":"arr2@x.io","city":"Oslo"}]`, 2, "arr2@x.io"},
		{"ndjson", "application/x-ndjson", "{\"email\":\"nd1@x.io\",\"city\":\"Oslo\"}\n{\"email\":\"nd2@x.io\",\"city\":\"Oslo\"}\n", 2, "nd2@x.io"},
		{"form", "application/x-www-form-urlencoded", "email=form%40x.io&city=Oslo", 1, "form@x.io"},
	}
	for _, c := range cases {
		a := post(t, b.collectURL("braze_users"), c.ct, c.body)
		if a.status != 200 || a.body.Status != 200 || a.body.Message != "success" || a.body.Data == nil ||
			a.body.Data.MessageCount != c.count || a.body.Data.RejectedCount != 0 {
			t.Errorf("%s: answer %d %+v %+v, want 200 success with %d messages", c.name, a.status, a.body, a.body.Data, c.count)
			continue
		}
		b.waitProfile(t, "email", c.email, func(p *profiles.Profile) bool { return p.Fields["city"] == "Oslo" })
	}
	p := b.waitProfile(t, "braze_id", "b1", nil)
	if p.Fields["phone"] != "+47 1" || p.Fields["birth_date"] != time.Date(1982, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("braze_users mapping not applied: %v", p.Fields)
	}
	waitQueueEmpty(t, b)
}

func waitQueueEmpty(t *testing.T, b *bundle) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.queueLen(t) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ingest queue still holds %d entries", b.queueLen(t))
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestCollectMalformedJSONWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	for _, body := range []string{`{"email":"a@x.io"`, `[{"email":"a@x.io"}, {`, ``} {
		a := post(t, b.collectURL("braze_users"), "application/json", body)
		if a.status != 400 || a.body.Status != 400 || !strings.Contains(a.body.Message, "body") {
			t.Errorf("body %q: answer %d %+v, want 400 naming the body", body, a.status, a.body)
		}
	}
	if n := b.queueLen(t); n != 0 {
		t.Errorf("queue holds %d entries after malformed bodies, want 0", n)
	}
}

func TestCollectRejectsWithReasons(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	body := `[{"first_name":"nobody"}, {"email":"ok@x.io","session_count":"3"}, {"email":"bad@x.io","session_count":"many"}, "text", {"email":"dob@x.io","date_of_birth":"someday"}]`
	a := post(t, b.collectURL("braze_users"), "application/json", body)
	if a.status != 200 || a.body.Data.MessageCount != 1 || a.body.Data.RejectedCount != 4 {
		t.Fatalf("answer %d %+v, want 1 accepted and 4 rejected", a.status, a.body.Data)
	}
	wantIdx := map[int]string{0: "no identity", 2: "session_count", 3: "not a JSON object", 4: "date_of_birth"}
	for _, r := range a.body.Data.Rejected {
		if want, ok := wantIdx[r.Index]; !ok || !strings.Contains(r.Reason, want) {
			t.Errorf("rejection %+v: want reason containing %q", r, want)
		}
	}
	p := b.waitProfile(t, "email", "ok@x.io", nil)
	if p.Fields["session_count"] != 3.0 {
		t.Errorf("session_count = %#v, want 3", p.Fields["session_count"])
	}
	logs, err := b.collector.StreamLog(context.Background(), b.acct, "braze_users", 10)
	if err != nil || len(logs) != 4 {
		t.Fatalf("stream log = %v, %v; want 4 rejections", logs, err)
	}
	waitQueueEmpty(t, b)
	if _, err := b.store.Lookup(context.Background(), b.acct, "email", "bad@x.io"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("rejected record applied: %v", err)
	}
}

func TestCollectBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	big := `{"email":"big@x.io","pad":"` + strings.Repeat("x", 10<<20) + `"}`
	a := post(t, b.collectURL("braze_users"), "application/json", big)
	if a.status != http.StatusRequestEntityTooLarge || a.body.Status != 413 {
		t.Errorf("answer %d %+v, want 413", a.status, a.body)
	}
	if n := b.queueLen(t); n != 0 {
		t.Errorf("queue holds %d entries, want 0", n)
	}
	// Just under the limit is fine.
	ok := `{"email":"big@x.io","pad":"` + strings.Repeat("x", 10<<20-100) + `"}`
	if a := post(t, b.collectURL("braze_users"), "application/json", ok); a.status != 200 {
		t.Errorf("body under 10 MB: answer %d %+v", a.status, a.body)
	}
}

func TestCollectDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	a := post(t, b.collectURL("braze_users")+"?dryrun=true", "application/json", `[{"email":"d@x.io"},{"city":"x"}]`)
	if a.status != 200 || !a.body.Data.DryRun || a.body.Data.MessageCount != 1 || a.body.Data.RejectedCount != 1 {
		t.Errorf("dry run answer %d %+v", a.status, a.body.Data)
	}
	if n := b.queueLen(t); n != 0 {
		t.Errorf("dry run queued %d entries", n)
	}
	keys, _ := b.rdb.Keys(context.Background(), string(b.ns)+":*").Result()
	if len(keys) != 0 {
		t.Errorf("dry run wrote keys %v", keys)
	}
}

func TestCollectRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true, collector: ingest.CollectorOptions{Rate: 0.5, Burst: 2}})
	for i := range 2 {
		if a := post(t, b.collectURL("web"), "application/json", `{"email":"r@x.io"}`); a.status != 200 {
			t.Fatalf("request %d within burst: %d %+v", i, a.status, a.body)
		}
	}
	a := post(t, b.collectURL("web"), "application/json", `{"email":"r@x.io"}`)
	if a.status != http.StatusTooManyRequests || a.retryAfter == "" || a.retryAfter == "0" {
		t.Errorf("third request: %d Retry-After %q, want 429 with Retry-After", a.status, a.retryAfter)
	}
	if n := b.queueLen(t); n != 2 {
		t.Errorf("queue holds %d entries, want the 2 accepted", n)
	}
	// Another account has its own budget.
	other := b.url + "/c/other-" + redistest.RandomID() + "/web"
	if a := post(t, other, "application/json", `{"email":"r@x.io"}`); a.status != 200 {
		t.Errorf("other account: %d", a.status)
	}
}

// Two processes (collectors) share an account's rate limit: each takes
// leases from the same budget, so together they accept the burst and what
// the rate refills while they post, and no more.
func TestCollectRateLimitSharedByProcesses(t *testing.T) {
	t.Parallel()
	const rate, burst = 200, 20 // leases of 10
	b := setup(t, options{noProcessor: true, collector: ingest.CollectorOptions{Rate: rate, Burst: burst}})
	other := newCollectServer(t, ingest.NewCollector(b.rdb, b.ns, b.store, ingest.CollectorOptions{Rate: rate, Burst: burst}))
	urls := []string{b.collectURL("web"), other + "/c/" + b.acct + "/web"}
	accepted, limited := 0, 0
	start := time.Now()
	for i := 0; limited < 10; i++ {
		a := post(t, urls[i%2], "application/json", `{"email":"r@x.io"}`)
		switch a.status {
		case 200:
			accepted++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("request %d: %d %+v", i, a.status, a.body)
		}
	}
	refill := int(time.Since(start).Seconds()*rate) + 1
	if accepted < burst || accepted > burst+refill {
		t.Errorf("accepted %d requests, want between the burst (%d) and the burst plus %d refilled", accepted, burst, refill)
	}
	if n := b.queueLen(t); n != int64(accepted) {
		t.Errorf("queue holds %d entries, want the %d accepted", n, accepted)
	}
}

// A full backlog answers 503 without queueing; once the processor has
// caught up, requests are accepted again.
func TestCollectBacklogFull(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true, collector: ingest.CollectorOptions{Rate: -1, MaxBacklog: 2}})
	for i := range 2 {
		if a := post(t, b.collectURL("web"), "application/json", `{"email":"q@x.io"}`); a.status != 200 {
			t.Fatalf("request %d under the backlog limit: %d %+v", i, a.status, a.body)
		}
	}
	a := post(t, b.collectURL("web"), "application/json", `{"email":"q@x.io"}`)
	if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Errorf("request over the backlog: %d Retry-After %q, want 503 with Retry-After", a.status, a.retryAfter)
	}
	if n := b.queueLen(t); n != 2 {
		t.Errorf("queue holds %d entries, want 2", n)
	}
	startProcessor(t, b.rdb, b.ns, b.store, ingest.ProcessorOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for b.queueLen(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the processor did not drain the queue within 5 s")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	if a := post(t, b.collectURL("web"), "application/json", `{"email":"q@x.io"}`); a.status != 200 {
		t.Errorf("request after the backlog drained: %d %+v", a.status, a.body)
	}
}

func TestCollectBadStreamName(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	a := post(t, b.collectURL("bad%20name"), "application/json", `{"email":"a@x.io"}`)
	if a.status != 400 || !strings.Contains(a.body.Message, "stream") {
		t.Errorf("answer %d %+v, want 400 naming the stream", a.status, a.body)
	}
}

func TestCollectRedisUnavailableAnswers503(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	b := setup(t, options{noProcessor: true, rdbCollector: dead})
	a := post(t, b.collectURL("braze_users"), "application/json", `{"email":"a@x.io"}`)
	if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Errorf("answer %d %+v (Retry-After %q), want 503 with Retry-After", a.status, a.body, a.retryAfter)
	}
}

func TestCollectManyRecordsOneRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	var buf bytes.Buffer
	for i := range 2000 {
		buf.WriteString(`{"external_id":"` + strings.Repeat("e", 3) + strconv.Itoa(i) + `","n":` + strconv.Itoa(i) + "}\n")
	}
	a := post(t, b.collectURL("web"), "application/x-ndjson", buf.String())
	if a.status != 200 || a.body.Data.MessageCount != 2000 {
		t.Fatalf("answer %d %+v", a.status, a.body.Data)
	}
	b.waitProfile(t, "external_id", "eee1999", nil)
	waitQueueEmpty(t, b)
	if n, _ := b.store.Count(context.Background(), b.acct); n != 2000 {
		t.Errorf("Count = %d, want 2000", n)
	}
}

// TestConcurrentRequestsAreNeverStranded posts from many clients while the
// processor drains and deactivates the account over and over: every accepted
// request must reach its profile.
func TestConcurrentRequestsAreNeverStranded(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	const clients, each = 8, 40
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				postJSON(t, b.collectURL("web"), fmt.Sprintf(`{"external_id":"c%d-%d"}`, c, i))
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := b.store.Count(context.Background(), b.acct)
		if err != nil {
			t.Fatal(err)
		}
		if n == clients*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests applied; the rest are stranded", n, clients*each)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	waitQueueEmpty(t, b)
}

// mixedPipelines is a go-redis hook that counts the pipelines holding both
// an XADD and an SADD.
type mixedPipelines struct{ n atomic.Int64 }

func (h *mixedPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *mixedPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *mixedPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var xadd, sadd bool
		for _, c := range cmds {
			xadd = xadd || c.Name() == "xadd"
			sadd = sadd || c.Name() == "sadd"
		}
		if xadd && sadd {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestCollectOnRedisCluster runs the collector and the processor on a
// three-node Redis Cluster, where the active set and the accounts' streams
// live on different nodes: requests of many accounts, posted at once, all
// reach their profiles, and no SADD to the active set shares a pipeline
// with the XADDs it announces (the nodes would run the two concurrently, and
// an account marked before its entry is stored could be drained, found
// empty and left unseen).
func TestCollectOnRedisCluster(t *testing.T) {
	t.Parallel()
	rdb := redistest.Cluster(t, 3)
	mixed := &mixedPipelines{}
	rdb.AddHook(mixed)
	ns := keyspace.Namespace("t" + redistest.RandomID())
	st := profiles.New(rdb, ns, nil, profiles.Options{})
	url := newCollectServer(t, ingest.NewCollector(rdb, ns, st, ingest.CollectorOptions{}))
	startProcessor(t, rdb, ns, st, ingest.ProcessorOptions{})

	const accounts, each = 12, 20
	var wg sync.WaitGroup
	for a := range accounts {
		for i := range each {
			wg.Go(func() {
				postJSON(t, fmt.Sprintf("%s/c/acct-%d/braze_users", url, a), fmt.Sprintf(`{"external_id":"u%d","email":"u%d@example.com"}`, i, i))
			})
		}
	}
	wg.Wait()
	for a := range accounts {
		acct := fmt.Sprintf("acct-%d", a)
		poll.Until(t, 10*time.Second, "every request of "+acct+" in its profile", func() bool {
			n, err := st.Count(context.Background(), acct)
			return err == nil && n == each
		})
	}
	if n := mixed.n.Load(); n > 0 {
		t.Errorf("%d pipelines held both XADDs and the SADD that announces them", n)
	}
}

package ingest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/cputime"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// The collect load benchmark posts Braze webhook sample bodies (one user
// each, unique identities) to /c/{account}/braze_users over real loopback
// HTTP with keep-alive connections (one per load goroutine, written to and
// read by a lean client, see poster), and reports:
//
//   - closed-loop throughput (LOAD_WORKERS concurrent clients, LOAD_REQUESTS
//     requests a round, the median of LOAD_ROUNDS rounds, default 3):
//     accepted req/s, p50 and p99 latency of the last round;
//   - in each round, the same closed loop against a minimal net/http handler
//     that does one Redis write (XADD of the body) per request, run before
//     or after the collect loop in turn; the ratio of the medians, and the
//     lowest and highest ratio of one round;
//   - the longest time from a round's last 200 until every event is in its
//     profile, and the events lost (accepted but never applied; must be 0);
//   - open-loop latency at LOAD_RATE req/s (default 5,000) for LOAD_SECONDS,
//     measured from each request's scheduled time (no coordinated omission);
//   - the CPU time per request of this process (API, processor and load
//     generator) and of Redis, in the collect rounds (until their events are
//     applied) and in the baseline rounds;
//   - the closed loop against a collector whose namespace no processor reads
//     (collect_only), to show the request path without the profile writes
//     sharing the CPUs.
//
// Run: go test ./internal/ingest -run '^$' -bench CollectLoad -benchtime 1x
func BenchmarkCollectLoad(b *testing.B) {
	requests := envInt("LOAD_REQUESTS", 50_000)
	workers := envInt("LOAD_WORKERS", 64)
	rate := envInt("LOAD_RATE", 5_000)
	seconds := envInt("LOAD_SECONDS", 5)
	rounds := envInt("LOAD_ROUNDS", 3)

	rdb, ns := redistest.Client(b)
	rdb.Options().PoolSize = 4 * workers
	st := profiles.New(rdb, ns, nil, profiles.Options{})
	col := ingest.NewCollector(rdb, ns, st, ingest.CollectorOptions{Rate: -1})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /c/{account}/{stream}", func(w http.ResponseWriter, r *http.Request) {
		col.ServeCollect(w, r, r.PathValue("account"), r.PathValue("stream"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	onlyRdb, onlyNS := redistest.Client(b)
	onlyRdb.Options().PoolSize = 4 * workers
	onlyCol := ingest.NewCollector(onlyRdb, onlyNS, profiles.New(onlyRdb, onlyNS, nil, profiles.Options{}), ingest.CollectorOptions{Rate: -1})
	onlyMux := http.NewServeMux()
	onlyMux.HandleFunc("POST /c/{account}/{stream}", func(w http.ResponseWriter, r *http.Request) {
		onlyCol.ServeCollect(w, r, r.PathValue("account"), r.PathValue("stream"))
	})
	onlySrv := httptest.NewServer(onlyMux)
	defer onlySrv.Close()
	proc := ingest.NewProcessor(rdb, ns, st, ingest.ProcessorOptions{Consumer: "load-" + redistest.RandomID()})
	if err := proc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer proc.Stop()

	b.ResetTimer()
	for range b.N {
		acct := "load-" + redistest.RandomID()
		url := srv.URL + "/c/" + acct + "/braze_users"

		// Closed loops, collect and baseline (one Redis write per request)
		// in alternating order, rounds times: the machine's drift then falls
		// on both alike, and the medians are compared.
		var collectRPS, baseRPS, ratios []float64
		var res loadResult
		var failed int64
		var visible time.Duration
		// CPU per request, of this process and of Redis; a collect round's
		// runs until its events are applied.
		var collectCPU, baseCPU cpuUse
		base := baselineServer(rdb, ns.Account(acct, "baseline"))
		applied := 0
		for r := range rounds {
			runCollect := func() {
				c0 := takeCPU(rdb)
				res = closedLoop(b, url, requests, workers, applied)
				lastOK := time.Now()
				applied += res.ok
				waitApplied(b, st, acct, int64(applied))
				visible = max(visible, time.Since(lastOK))
				collectCPU.add(c0, takeCPU(rdb), res.ok)
				failed += int64(res.failed)
				collectRPS = append(collectRPS, res.rps())
			}
			runBase := func() {
				c0 := takeCPU(rdb)
				baseRes := closedLoop(b, base.URL+"/c/"+acct+"/braze_users", requests, workers, 0)
				baseCPU.add(c0, takeCPU(rdb), baseRes.ok)
				baseRPS = append(baseRPS, baseRes.rps())
			}
			if r%2 == 0 {
				runCollect()
				runBase()
			} else {
				runBase()
				runCollect()
			}
			ratios = append(ratios, collectRPS[r]/baseRPS[r])
		}
		base.Close()
		b.ReportMetric(median(collectRPS), "req/s")
		b.ReportMetric(ms(res.pct(50)), "p50_ms")
		b.ReportMetric(ms(res.pct(99)), "p99_ms")
		b.ReportMetric(ms(visible), "last_visible_ms")
		b.ReportMetric(median(baseRPS), "baseline_req/s")
		b.ReportMetric(median(collectRPS)/median(baseRPS), "ratio")
		b.ReportMetric(slices.Min(ratios), "ratio_min")
		b.ReportMetric(slices.Max(ratios), "ratio_max")
		b.ReportMetric(collectCPU.goPerReq(), "collect_go_cpu_us/req")
		b.ReportMetric(collectCPU.redisPerReq(), "collect_redis_cpu_us/req")
		b.ReportMetric(baseCPU.goPerReq(), "baseline_go_cpu_us/req")
		b.ReportMetric(baseCPU.redisPerReq(), "baseline_redis_cpu_us/req")

		// Open loop at a fixed rate.
		open := openLoop(b, url, rate, seconds, workers, applied)
		applied += open.ok
		waitApplied(b, st, acct, int64(applied))
		n, _ := st.Count(context.Background(), acct)
		b.ReportMetric(float64(int64(applied)-n), "lost")
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(open.rps(), "open_req/s")
		b.ReportMetric(ms(open.pct(50)), "open_p50_ms")
		b.ReportMetric(ms(open.pct(99)), "open_p99_ms")
		b.ReportMetric(float64(open.failed), "open_failed")

		// The collect path alone: the same closed loop into a namespace no
		// processor reads, so the profile writes do not share the CPUs.
		c0 := takeCPU(rdb)
		only := closedLoop(b, onlySrv.URL+"/c/"+acct+"/braze_users", requests, workers, 0)
		var onlyCPU cpuUse
		onlyCPU.add(c0, takeCPU(rdb), only.ok)
		b.ReportMetric(onlyCPU.goPerReq(), "collect_only_go_cpu_us/req")
		b.ReportMetric(onlyCPU.redisPerReq(), "collect_only_redis_cpu_us/req")
		b.ReportMetric(only.rps(), "collect_only_req/s")
		b.ReportMetric(only.rps()/median(baseRPS), "collect_only_ratio")
	}
}

// cpuAt is the CPU time of this process and of Redis at one moment.
type cpuAt struct{ proc, redis float64 }

func takeCPU(rdb *redis.Client) cpuAt {
	return cpuAt{cputime.Process(), cputime.RedisServer(context.Background(), rdb)}
}

// cpuUse sums CPU seconds and requests over rounds.
type cpuUse struct {
	proc, redis float64
	requests    int
}

func (u *cpuUse) add(from, to cpuAt, requests int) {
	u.proc += to.proc - from.proc
	u.redis += to.redis - from.redis
	u.requests += requests
}

func (u cpuUse) goPerReq() float64    { return u.proc * 1e6 / float64(max(1, u.requests)) }
func (u cpuUse) redisPerReq() float64 { return u.redis * 1e6 / float64(max(1, u.requests)) }

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// brazeBody is the partner guide's webhook sample for user i.
func brazeBody(i int) []byte {
	return fmt.Appendf(nil, `{"city":"Bangkok","country":"TH","first_name":"Ann","gender":"F","language":"th","last_name":"Lee",`+
		`"date_of_birth":"19820101","phone_number":"+66%09d","time_zone":"GMT+7","twitter_handle":"@u%d",`+
		`"email":"u%d@example.com","braze_id":"5f%014x"}`, i, i, i, i)
}

type loadResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
}

func (r loadResult) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r loadResult) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// dialPoster returns a poster for url, one per load goroutine.
func dialPoster(b *testing.B, url string) *poster {
	p, err := newPoster(url)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// closedLoop sends n requests from workers goroutines as fast as they answer.
func closedLoop(b *testing.B, url string, n, workers, offset int) loadResult {
	b.Helper()
	var (
		next   atomic.Int64
		failed atomic.Int64
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, n)
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := dialPoster(b, url)
			defer p.Close()
			local := make([]time.Duration, 0, n/workers+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				t := time.Now()
				if p.post(brazeBody(offset + i)) {
					local = append(local, time.Since(t))
				} else {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return loadResult{ok: len(lat), failed: int(failed.Load()), elapsed: time.Since(start), latencies: lat}
}

// openLoop sends rate requests per second for seconds, each at its scheduled
// time, and measures latency from that time.
func openLoop(b *testing.B, url string, rate, seconds, workers, offset int) loadResult {
	b.Helper()
	n := rate * seconds
	interval := time.Second / time.Duration(rate)
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, n)
	var (
		failed atomic.Int64
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, n)
		wg     sync.WaitGroup
	)
	for range workers * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := dialPoster(b, url)
			defer p.Close()
			for j := range jobs {
				if p.post(brazeBody(offset + j.i)) {
					d := time.Since(j.due)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the load generator, not synchronisation
		}
		jobs <- job{i: i, due: due}
	}
	close(jobs)
	wg.Wait()
	return loadResult{ok: len(lat), failed: int(failed.Load()), elapsed: time.Since(start), latencies: lat}
}

// waitApplied polls until the account has want profiles (each request is a
// new user) or 60 s pass.
func waitApplied(b *testing.B, st *profiles.Store, acct string, want int64) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := st.Count(context.Background(), acct)
		if err != nil {
			b.Fatal(err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Errorf("only %d of %d events applied after 60 s", n, want)
			return
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

// baselineServer is the minimal handler: read the body, XADD it, answer 200.
func baselineServer(rdb *redis.Client, key string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := rdb.XAdd(r.Context(), &redis.XAddArgs{Stream: key, Values: []any{"b", body}}).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":200,"message":"success"}`)
	}))
}

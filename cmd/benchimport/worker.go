package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/config"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/redis/go-redis/v9"
)

// ns is the namespace of the benchmark's keys (in its own database).
const ns = keyspace.Namespace("bs")

// boxKeyEnv passes the secrets box key to the worker process.
const boxKeyEnv = "BENCHIMPORT_BOX_KEY"

// workerResult is what the worker process prints (one JSON line on stdout).
type workerResult struct {
	Seconds       float64          `json:"seconds"`        // importjob.Runner.Run, end to end
	StageSeconds  float64          `json:"stage_seconds"`  // Run start to the first profile upsert
	UpsertSeconds float64          `json:"upsert_seconds"` // time inside profiles.Store.Upsert
	Imported      int              `json:"imported"`
	Failed        int              `json:"failed"`
	Counters      map[string]int64 `json:"counters"`
	VmHWMKiB      int64            `json:"vm_hwm_kib"` // peak resident set of the worker process
	PeakHeapMiB   float64          `json:"peak_heap_mib"`
	NumGC         uint32           `json:"num_gc"`
}

// stores is the part of a worker the benchmark needs: authorizations, jobs
// and the import runner, as cmd/brazesync wires them.
type stores struct {
	rdb   *redis.Client
	auths *authorizations.Store
	jobs  *jobs.Store
	prof  *profiles.Store
}

// loopback is the egress policy of the benchmark: its sshd listens on
// loopback.
func loopback() *egress.Policy {
	return egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
}

func newStores(redisURL string, boxKey []byte, hook bool, log *slog.Logger) (*stores, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("parsing -redis %q: %w", redisURL, err)
	}
	box, err := secrets.NewBox(boxKey)
	if err != nil {
		return nil, err
	}
	s := &stores{rdb: redis.NewClient(opt)}
	s.auths = authorizations.New(s.rdb, ns, box, authorizations.NewRegistry(authorizations.SFTPType(loopback()), authorizations.SFTPPGPType(loopback())))
	s.jobs = jobs.New(s.rdb, ns, s.auths, nil)
	if !hook {
		s.prof = profiles.New(s.rdb, ns, nil, profiles.Options{Logger: log})
	} else {
		aud := audiences.New(s.rdb, ns, nil, audiences.Options{Logger: log})
		s.prof = profiles.New(s.rdb, ns, aud, profiles.Options{Logger: log})
		aud.UseProfiles(s.prof)
	}
	// The store validates csv_import jobs as brazesync's does.
	s.jobs.AddType(newRunner(s, importjob.ProfilesUpserter(s.prof), "", log).JobType().Job())
	return s, nil
}

// newRunner returns an import runner on s's stores.
func newRunner(s *stores, up importjob.BulkUpserter, tmp string, log *slog.Logger) *importjob.Runner {
	return importjob.New(s.auths, s.jobs, csvimport.NewImporter(s.rdb, ns, log),
		sftpclient.NewLimiter(s.rdb, ns, sftpclient.LimiterConfig{Logger: log}), up,
		importjob.Options{TempDir: tmp, Egress: importjob.Egress{Policy: loopback()}, Logger: log})
}

// timedUpserter notes when the first upsert starts (the end of staging) and
// the time spent upserting, through its Bulks as cmd/brazesync's does.
type timedUpserter struct {
	up    importjob.BulkUpserter
	mu    sync.Mutex
	first time.Time
	spent time.Duration
}

func (t *timedUpserter) Upsert(ctx context.Context, account, stream string, recs []profiles.Record) (profiles.Result, error) {
	defer t.timed(time.Now())
	return t.up.Upsert(ctx, account, stream, recs)
}

func (t *timedUpserter) NewBulk(account, stream string) importjob.Bulk {
	return timedBulk{Bulk: t.up.NewBulk(account, stream), t: t}
}

func (t *timedUpserter) timed(start time.Time) {
	t.mu.Lock()
	if t.first.IsZero() {
		t.first = start
	}
	t.spent += time.Since(start)
	t.mu.Unlock()
}

// timedBulk times a Bulk's upserts; its look-ups belong to staging.
type timedBulk struct {
	importjob.Bulk
	t *timedUpserter
}

func (b timedBulk) Upsert(ctx context.Context, recs []profiles.Record, fresh []bool) (profiles.Result, error) {
	defer b.t.timed(time.Now())
	return b.Bulk.Upsert(ctx, recs, fresh)
}

func (b timedBulk) Close() (int, error) {
	defer b.t.timed(time.Now())
	return b.Bulk.Close()
}

// runWorker is the worker process: one importjob.Runner.Run of the job, as
// a worker runs it, then a JSON result line on stdout.
func runWorker(args []string) error {
	config.SetWorkerGC(os.Getenv) // as `brazesync worker` does
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	redisURL := fs.String("redis", "", "Redis URL with the database")
	account := fs.String("account", "", "account")
	jobID := fs.String("job", "", "job id")
	tmp := fs.String("tmp", os.TempDir(), "staging directory")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	memProfile := fs.String("memprofile", "", "write a heap profile here at the end")
	hook := fs.Bool("hook", true, "give profiles the audiences hook, as cmd/brazesync does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := hex.DecodeString(os.Getenv(boxKeyEnv))
	if err != nil || len(key) != 32 {
		return fmt.Errorf("%s must hold 32 hex-encoded bytes", boxKeyEnv)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := newStores(*redisURL, key, *hook, log)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	up := &timedUpserter{up: importjob.ProfilesUpserter(s.prof)}
	runner := newRunner(s, up, *tmp, log)
	ctx := context.Background()
	j, err := s.jobs.Get(ctx, *account, *jobID)
	if err != nil {
		return fmt.Errorf("reading job %s: %w", *jobID, err)
	}
	run, err := s.jobs.StartRun(ctx, *account, j.ID, "", "manual")
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	stopHeap := heapSampler()
	start := time.Now()
	res, runErr := runner.Run(ctx, j, run)
	elapsed := time.Since(start)
	peakHeap := stopHeap()
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	outcome := jobs.OutcomeSuccess
	if runErr != nil || res.Failed > 0 {
		outcome = jobs.OutcomeFailed
	}
	_ = s.jobs.FinishRun(ctx, *account, j.ID, run.ID, outcome, "")
	if runErr != nil {
		return fmt.Errorf("importjob.Runner.Run: %w", runErr)
	}
	out := workerResult{Seconds: elapsed.Seconds(), Imported: res.Imported, Failed: res.Failed,
		UpsertSeconds: up.spent.Seconds(), VmHWMKiB: procStatusKiB("self", "VmHWM"), PeakHeapMiB: float64(peakHeap) / (1 << 20)}
	if !up.first.IsZero() {
		out.StageSeconds = up.first.Sub(start).Seconds()
	}
	if r, err := s.jobs.GetRun(ctx, *account, j.ID, run.ID); err == nil {
		out.Counters = r.Counters
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out.NumGC = ms.NumGC
	if res.Failed > 0 {
		logs, _ := s.jobs.Logs(ctx, *account, j.ID, 5)
		var msgs []string
		for _, l := range logs {
			msgs = append(msgs, l.Message)
		}
		return errors.New("the file failed: " + strings.Join(msgs, "; "))
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// procStatusKiB reads a "Name:   123 kB" line of /proc/<pid>/status.
func procStatusKiB(pid, name string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// heapSampler records the peak HeapInuse every 20 ms until stopped.
func heapSampler() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}

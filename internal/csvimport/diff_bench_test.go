package csvimport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// BenchmarkDiff imports the same Braze-shaped file twice with Diff (from
// a local file; CSVIMPORT_BENCH_ROWS rows, default 500,000): the first
// import applies every row and records its digest, the second finds every
// row unchanged. It reports both times and the Redis memory of one
// generation.
//
//	go test -run '^$' -bench Diff -benchtime 1x ./internal/csvimport/
func BenchmarkDiff(b *testing.B) {
	rows := 500_000
	if v := os.Getenv("CSVIMPORT_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	tmp := b.TempDir()
	path := filepath.Join(tmp, "users.csv")
	writeBrazeCSV(b, path, rows)
	rdb, ns := redistest.Client(b)
	im := NewImporter(rdb, ns, nil)
	cfg := Config{TempDir: tmp, Diff: true}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		job := Job{Account: "bench", ID: fmt.Sprint("diff", i)}
		var times [2]time.Duration
		for pass := 0; pass < 2; pass++ {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			st, err := Stage(ctx, f, "users.csv", 0, cfg)
			_ = f.Close()
			if err != nil {
				b.Fatal(err)
			}
			sink := &countSink{}
			rep, err := im.Apply(ctx, job, st, sink)
			_ = st.Close()
			if err != nil {
				b.Fatal(err)
			}
			times[pass] = time.Since(start)
			want := int64(rows)
			if pass == 1 {
				want = 0
			}
			if sink.n.Load() != want || rep.Unchanged != int64(rows)-want {
				b.Fatalf("pass %d: applied %d, unchanged %d", pass, sink.n.Load(), rep.Unchanged)
			}
		}
		cur, _ := rdb.Get(ctx, diffCurrentKey(ns, job.Account, job.ID)).Int64()
		mem, _ := rdb.MemoryUsage(ctx, diffGenKey(ns, job.Account, job.ID, cur), 0).Result()
		b.ReportMetric(times[0].Seconds(), "s/first")
		b.ReportMetric(times[1].Seconds(), "s/unchanged")
		b.ReportMetric(float64(mem)/(1<<20), "redis-MiB")
		b.Logf("%d rows with diff: first import %.2fs, same file again %.2fs (0 applied); one generation uses %.1f MiB of Redis",
			rows, times[0].Seconds(), times[1].Seconds(), float64(mem)/(1<<20))
	}
}

// BenchmarkJobLease measures taking and releasing a job's lease (the
// acquire and release scripts).
func BenchmarkJobLease(b *testing.B) {
	rdb, ns := redistest.Client(b)
	im := NewImporter(rdb, ns, nil)
	ctx := context.Background()
	for b.Loop() {
		l, err := im.Acquire(ctx, Job{Account: "a", ID: "j"}, "run")
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}

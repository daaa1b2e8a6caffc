package csvimport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

type importBundle struct {
	im   *Importer
	job  Job
	cfg  Config
	sink *memSink
}

func setupImporter(t *testing.T) *importBundle {
	t.Helper()
	rdb, ns := redistest.Client(t)
	return &importBundle{
		im:   NewImporter(rdb, ns, nil),
		job:  Job{Account: "acct-" + redistest.RandomID(), ID: "job1"},
		cfg:  Config{TempDir: t.TempDir()},
		sink: &memSink{},
	}
}

func opener(data []byte) Opener {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

func version(path string, data []byte) FileVersion {
	return FileVersion{Path: path, Size: int64(len(data)), ModTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func TestLedgerImportsEachVersionOnce(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	ctx := context.Background()
	data := csvRows(10)
	v := version("in/users.csv", data)

	rep, err := b.im.ImportFile(ctx, b.job, v, opener(data), b.cfg, b.sink)
	if err != nil || rep.Applied != 10 {
		t.Fatalf("first import: %v %+v", err, rep)
	}
	if _, err := b.im.ImportFile(ctx, b.job, v, opener(data), b.cfg, b.sink); !errors.Is(err, ErrAlreadyImported) {
		t.Fatalf("second import: got %v, want ErrAlreadyImported", err)
	}
	if len(b.sink.all()) != 10 {
		t.Fatalf("applied %d rows, want 10", len(b.sink.all()))
	}
	e, ok, err := b.im.Ledger.Get(ctx, b.job, v)
	if err != nil || !ok || e.State != StateImported || e.Applied != 10 || e.Attempts != 1 || e.FinishedAt.IsZero() {
		t.Fatalf("entry %+v %v %v", e, ok, err)
	}

	// A new version (the file changed) is imported.
	v2 := v
	v2.ModTime = v.ModTime.Add(time.Hour)
	if _, err := b.im.ImportFile(ctx, b.job, v2, opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("new version: %v", err)
	}
	// Another job imports the same file independently.
	other := Job{Account: b.job.Account, ID: "job2"}
	if _, err := b.im.ImportFile(ctx, other, v, opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("other job: %v", err)
	}

	// Reset makes a version importable again.
	if found, err := b.im.Ledger.Reset(ctx, b.job, v); err != nil || !found {
		t.Fatalf("reset: %v %v", found, err)
	}
	if _, err := b.im.ImportFile(ctx, b.job, v, opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("after reset: %v", err)
	}
	list, err := b.im.Ledger.List(ctx, b.job)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %+v", err, list)
	}
	if err := b.im.Ledger.Clear(ctx, b.job); err != nil {
		t.Fatal(err)
	}
	if list, _ := b.im.Ledger.List(ctx, b.job); len(list) != 0 {
		t.Fatalf("after clear: %+v", list)
	}
}

func TestLedgerOutcomes(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	ctx := context.Background()

	// A bad file is marked failed, for good.
	bad := []byte("a,b\n1,2\n")
	vb := version("bad.csv", bad)
	if _, err := b.im.ImportFile(ctx, b.job, vb, opener(bad), b.cfg, b.sink); !IsPermanent(err) {
		t.Fatalf("bad file: %v", err)
	}
	e, _, _ := b.im.Ledger.Get(ctx, b.job, vb)
	if e.State != StateFailed || !strings.Contains(e.Error, "identity") {
		t.Fatalf("entry %+v", e)
	}
	if _, err := b.im.ImportFile(ctx, b.job, vb, opener(bad), b.cfg, b.sink); !errors.Is(err, ErrAlreadyImported) {
		t.Fatalf("failed file retried: %v", err)
	}

	// A sink failure is transient: the entry stays importing and the next
	// attempt imports the file.
	data := csvRows(5)
	v := version("ok.csv", data)
	b.sink.fail = errors.New("profiles unavailable")
	_, err := b.im.ImportFile(ctx, b.job, v, opener(data), b.cfg, b.sink)
	if err == nil || IsPermanent(err) {
		t.Fatalf("sink failure: %v", err)
	}
	e, _, _ = b.im.Ledger.Get(ctx, b.job, v)
	if e.State != StateImporting || e.Error == "" {
		t.Fatalf("entry after transient failure %+v", e)
	}
	b.sink.fail = nil
	if _, err := b.im.ImportFile(ctx, b.job, v, opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("retry: %v", err)
	}
	e, _, _ = b.im.Ledger.Get(ctx, b.job, v)
	if e.State != StateImported || e.Attempts != 2 || e.Error != "" {
		t.Fatalf("entry after retry %+v", e)
	}
}

func TestDiffAppliesOnlyChangedRows(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	b.cfg.Diff = true
	b.cfg.BatchSize = 7 // several batches
	ctx := context.Background()

	first := []byte("user_id,email,reject\nu1,a@x,\nu2,b@x,\nu3,c@x,yes\n")
	for i := 0; i < 20; i++ {
		first = append(first, []byte("k"+string(rune('a'+i))+",k@x,\n")...)
	}
	rep, err := b.im.ImportFile(ctx, b.job, version("f1.csv", first), opener(first), b.cfg, b.sink)
	if err != nil || rep.Applied != 22 || rep.Rejected != 1 || rep.Unchanged != 0 {
		t.Fatalf("first file: %v %+v", err, rep)
	}

	// u2 changed, u4 is new, u3 was rejected by the sink last time (sent
	// again, accepted now), the 20 k rows and u1 are unchanged.
	second := []byte("user_id,email,reject\nu1,a@x,\nu2,B@x,\nu3,c@x,\nu4,d@x,\n")
	for i := 0; i < 20; i++ {
		second = append(second, []byte("k"+string(rune('a'+i))+",k@x,\n")...)
	}
	b.sink.records = nil
	rep, err = b.im.ImportFile(ctx, b.job, version("f2.csv", second), opener(second), b.cfg, b.sink)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range b.sink.all() {
		got = append(got, r.Field("user_id"))
	}
	if strings.Join(got, ",") != "u2,u3,u4" || rep.Unchanged != 21 || rep.Applied != 3 {
		t.Fatalf("second file applied %v, report %+v", got, rep)
	}

	// A failed apply leaves the diff state as it was: the retry sends the
	// same rows.
	third := []byte("user_id,email,reject\nu1,changed@x,\n")
	b.sink.records = nil
	b.sink.fail = errors.New("down")
	v3 := version("f3.csv", third)
	if _, err := b.im.ImportFile(ctx, b.job, v3, opener(third), b.cfg, b.sink); err == nil {
		t.Fatal("no error from a failing sink")
	}
	b.sink.fail = nil
	rep, err = b.im.ImportFile(ctx, b.job, v3, opener(third), b.cfg, b.sink)
	if err != nil || rep.Applied != 1 {
		t.Fatalf("retry after failure: %v %+v", err, rep)
	}
}

func TestProgressReported(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	var mu sync.Mutex
	last := map[string]Progress{}
	b.cfg.Progress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		last[p.Stage] = p
	}
	data := csvRows(5000)
	v := version("p.csv", data)
	if _, err := b.im.ImportFile(context.Background(), b.job, v, opener(data), b.cfg, b.sink); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	st, ap := last["staging"], last["applying"]
	if st.BytesRead != int64(len(data)) || st.BytesTotal != int64(len(data)) || st.RowsRead != 5000 || st.File != "p.csv" {
		t.Fatalf("staging progress %+v", st)
	}
	if ap.Applied != 5000 || ap.RowsRead != 5000 {
		t.Fatalf("applying progress %+v", ap)
	}
}

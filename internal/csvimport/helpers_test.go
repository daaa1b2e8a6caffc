package csvimport

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSink is an in-memory Sink. Records whose field reject equals "yes"
// are rejected; fail makes every call fail.
type memSink struct {
	mu      sync.Mutex
	records []Record
	calls   int
	fail    error
}

func (s *memSink) Apply(_ context.Context, recs []Record) (int, []Rejection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return 0, nil, s.fail
	}
	var rej []Rejection
	n := 0
	for _, r := range recs {
		if r.Field("reject") == "yes" {
			rej = append(rej, Rejection{Line: r.Line, Entry: r.Entry, Reason: "sink says no"})
			continue
		}
		r.Values = slices.Clone(r.Values) // Apply must not keep them
		s.records = append(s.records, r)
		n++
	}
	return n, rej, nil
}

func (s *memSink) all() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// stageAndApply runs both stages on data without Redis-backed features.
func stageAndApply(t *testing.T, data []byte, cfg Config) (*Report, *memSink, error) {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	sink := &memSink{}
	st, err := Stage(context.Background(), bytes.NewReader(data), "file.csv", int64(len(data)), cfg)
	if err != nil {
		var rep *Report
		if st != nil {
			rep = st.Report
		}
		return rep, sink, err
	}
	defer st.Close()
	rdb, ns := redistest.Client(t)
	rep, err := NewImporter(rdb, ns, nil).Apply(context.Background(), Job{Account: "a", ID: "j"}, st, sink)
	return rep, sink, err
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type zipEntry struct {
	name string
	data []byte
}

func zipOf(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		f, err := w.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustBadFile(t *testing.T, err error, want error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !IsPermanent(err) {
		t.Fatalf("error %v is not permanent", err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("error %v does not wrap %v", err, want)
	}
}

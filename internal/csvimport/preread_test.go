package csvimport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// prereadSink answers true for rows whose n is even, as it sees them
// while the file is staged, and records what Apply then gets.
type prereadSink struct {
	memSink
	mu      sync.Mutex
	files   int
	asked   int
	failAt  int // Preread call that fails (0: none)
	calls   int
	columns [][]string
}

func (s *prereadSink) NewFile() { s.mu.Lock(); s.files++; s.mu.Unlock() }

func (s *prereadSink) Preread(_ context.Context, rows []Record) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls == s.failAt {
		return nil, errors.New("lookup failed")
	}
	out := make([]bool, len(rows))
	for i, r := range rows {
		var n int
		fmt.Sscan(r.Field("n"), &n)
		out[i] = n%2 == 0
		s.asked++
	}
	s.columns = append(s.columns, rows[0].Columns)
	return out, nil
}

func prereadFile(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("user_id,n\n")
	for i := range rows {
		if i == 1234 {
			b.WriteString("bad,row,too,many\n") // rejected while staging: not staged, not asked
		}
		fmt.Fprintf(&b, "u%d,%d\n", i, i)
	}
	return b.Bytes()
}

// TestPrereadAnswersReachApply: the rows are looked up while staged, in
// batches, and Apply hands each row the answer given for it; a failed
// look-up only costs answers.
func TestPrereadAnswersReachApply(t *testing.T) {
	t.Parallel()
	for _, failAt := range []int{0, 2} {
		sink := &prereadSink{failAt: failAt}
		data := prereadFile(5000)
		cfg := Config{TempDir: t.TempDir(), Prereader: sink, MaxBadRowShare: 0.5}
		st, err := Stage(context.Background(), bytes.NewReader(data), "file.csv", int64(len(data)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rdb, ns := redistest.Client(t)
		rep, err := NewImporter(rdb, ns, nil).Apply(context.Background(), Job{Account: "a", ID: "j"}, st, sink)
		st.Close()
		if err != nil || rep.Applied != 5000 {
			t.Fatalf("failAt %d: Apply = %+v, %v", failAt, rep, err)
		}
		wantCalls := 3 // of prereadBatch rows
		if failAt > 0 {
			wantCalls = failAt // none after a failure
		}
		if sink.files != 1 || sink.calls != wantCalls || (failAt == 0 && sink.asked != 5000) {
			t.Errorf("failAt %d: %d files, %d calls, %d rows asked; want 1, %d, all", failAt, sink.files, sink.calls, sink.asked, wantCalls)
		}
		for _, r := range sink.all() {
			var n int
			fmt.Sscan(r.Field("n"), &n)
			answered := failAt == 0 || n < prereadBatch // the second call failed, the third was not made
			if want := answered && n%2 == 0; r.Hint != want {
				t.Fatalf("failAt %d: row %d (line %d) hint %v, want %v", failAt, n, r.Line, r.Hint, want)
			}
		}
		if got := strings.Join(sink.columns[0], ","); got != "user_id,n" {
			t.Errorf("Preread columns %q", got)
		}
	}
}

// lateSink applies rows only when flushed, as a profiles Bulk may.
type lateSink struct {
	pending, flushed, flushes int
	fail                      error
}

func (s *lateSink) Apply(_ context.Context, recs []Record) (int, []Rejection, error) {
	s.pending += len(recs)
	return 0, nil, s.fail
}

func (s *lateSink) Flush(context.Context) (int, error) {
	s.flushes++
	n := s.pending
	s.flushed += n
	s.pending = 0
	return n, nil
}

// TestApplyFlushesALateSink: rows a Sink applies late count once flushed,
// and a file that fails still flushes the sink, to stop its writes.
func TestApplyFlushesALateSink(t *testing.T) {
	t.Parallel()
	data := prereadFile(12000)
	for _, fail := range []error{nil, errors.New("sink down")} {
		st, err := Stage(context.Background(), bytes.NewReader(data), "file.csv", int64(len(data)), Config{TempDir: t.TempDir(), MaxBadRowShare: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		sink := &lateSink{fail: fail}
		rdb, ns := redistest.Client(t)
		rep, err := NewImporter(rdb, ns, nil).Apply(context.Background(), Job{Account: "a", ID: "j"}, st, sink)
		st.Close()
		if fail == nil && (err != nil || rep.Applied != 12000 || sink.flushes != 1) {
			t.Errorf("Apply = %+v, %v after %d flushes; want 12000 applied, one flush", rep, err, sink.flushes)
		}
		if fail != nil && (!errors.Is(err, fail) || sink.flushes != 1) {
			t.Errorf("failing sink: Apply = %v after %d flushes; want its error, one flush", err, sink.flushes)
		}
	}
}

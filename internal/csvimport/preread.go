package csvimport

import (
	"context"
	"time"
)

// A Prereader is a Sink that looks rows up while their file is staged,
// writing nothing, so that applying them can skip those reads. Stage hands
// it the rows as they are parsed, behind the parser, and keeps one answer
// per staged row; Apply gives each row its answer in Record.Hint. NewFile
// comes before the rows of each staging. A Preread error only costs the
// answers: the file is staged and applied all the same.
type Prereader interface {
	Sink
	NewFile()
	Preread(ctx context.Context, rows []Record) ([]bool, error)
}

// A Checker is a Sink that checks rows as it would apply them, writing
// nothing: Stage rejects the rows it refuses, so that they count toward
// MaxBadRowShare before any row of the file is applied. CheckRows returns
// the check of one staging's rows.
type Checker interface {
	Sink
	CheckRows(ctx context.Context) (RowCheck, error)
}

// RowCheck checks one row (Values are reused after it returns): the code
// and reason to reject it, or "" to stage it.
type RowCheck func(Record) (code, reason string)

// A Flusher is a Sink whose Apply may return before its rows are written.
// Flush waits for them and returns how many more were applied; Apply calls
// it after a file's last rows, and when it gives up on a file.
type Flusher interface {
	Flush(ctx context.Context) (applied int, err error)
}

// prereadBatch is the number of rows of one Preread call.
const prereadBatch = 2000

// prereader runs a Prereader's look-ups of one staging in a goroutine of
// its own.
type prereader struct {
	pr    Prereader
	rows  []Record
	vals  []string
	start int64 // staged index of rows[0]
	jobs  chan prereadJob
	done  chan struct{}
	// hints holds bit i for staged row i when Preread answered true; the
	// goroutine writes it, finish hands it over.
	hints []uint64
}

type prereadJob struct {
	start int64
	rows  []Record
}

func newPrereader(ctx context.Context, pr Prereader) *prereader {
	pr.NewFile()
	r := &prereader{pr: pr, jobs: make(chan prereadJob, 2), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		failed := false
		for job := range r.jobs {
			if failed || ctx.Err() != nil {
				continue
			}
			hints, err := pr.Preread(ctx, job.rows)
			if err != nil {
				failed = true // no answers from now on; the rows apply as they would anyway
				continue
			}
			for i, h := range hints {
				if h {
					r.set(job.start + int64(i))
				}
			}
		}
	}()
	return r
}

// add takes staged row index, a copy of its values kept until its batch
// is looked up.
func (r *prereader) add(index int64, cols, values []string, event time.Time) {
	if len(r.rows) == 0 {
		r.start = index
		r.rows = make([]Record, 0, prereadBatch)
		r.vals = make([]string, 0, prereadBatch*len(values))
	}
	from := len(r.vals)
	r.vals = append(r.vals, values...)
	r.rows = append(r.rows, Record{Columns: cols, Values: r.vals[from:len(r.vals):len(r.vals)], EventTime: event})
	if len(r.rows) == prereadBatch {
		r.flush()
	}
}

func (r *prereader) flush() {
	if len(r.rows) > 0 {
		r.jobs <- prereadJob{start: r.start, rows: r.rows}
		r.rows, r.vals = nil, nil
	}
}

// finish looks up the last rows and returns the answers.
func (r *prereader) finish() []uint64 {
	r.flush()
	close(r.jobs)
	<-r.done
	return r.hints
}

func (r *prereader) set(i int64) {
	for int64(len(r.hints))*64 <= i {
		r.hints = append(r.hints, 0)
	}
	r.hints[i/64] |= 1 << (i % 64)
}

// hint is the answer for staged row i.
func hint(hints []uint64, i int64) bool {
	return i/64 < int64(len(hints)) && hints[i/64]&(1<<(i%64)) != 0
}

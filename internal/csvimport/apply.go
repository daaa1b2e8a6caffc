package csvimport

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"
)

// diffState is the Diff bookkeeping of one apply.
type diffState struct {
	prevKey string // "" when there is no previous generation
	newKey  string
	gen     int64
}

// applier reads staged rows back and feeds the sink in batches.
type applier struct {
	im      *Importer
	job     Job
	st      *Staged
	sink    Sink
	diff    *diffState
	rep     *Report
	last    time.Time
	idCols  map[*section]identityCols
	hashBuf []byte
}

// identityCols are a section's identity columns in preference order, with
// their normalised names.
type identityCols struct {
	cols  []int
	names []string
}

// Apply hands the staged rows to sink in batches of cfg.BatchSize; with
// Diff, only rows that changed since the previous fully applied file of
// job. It returns the completed report. An error (sink, Redis, ctx) leaves
// the diff state as it was, so a retry applies the same rows again.
func (im *Importer) Apply(ctx context.Context, job Job, st *Staged, sink Sink) (rep *Report, err error) {
	if st.f == nil {
		return nil, errors.New("csv import: staged file already closed")
	}
	if f, ok := sink.(Flusher); ok {
		defer func() {
			if err != nil {
				_, _ = f.Flush(ctx) // stop it; the file is applied again on retry
			}
		}()
	}
	applyStart := time.Now()
	a := &applier{im: im, job: job, st: st, sink: sink, rep: st.Report, idCols: map[*section]identityCols{}}
	if st.cfg.Diff {
		d, err := im.beginDiff(ctx, job)
		if err != nil {
			return nil, err
		}
		a.diff = d
	}
	rd := newStageReader(st.f)
	batch := make([]Record, 0, st.cfg.BatchSize)
	var ids, sums []string
	// values holds the values of the batch's rows, reused from batch to
	// batch (Sink must not keep them): one slice instead of a map per row.
	var values []string
	for index := int64(0); ; index++ {
		if len(batch) == 0 {
			values = values[:0]
		}
		start := len(values)
		sec, line, event, vals, err := rd.next(values)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading staged rows of %s: %w", st.Report.File, err)
		}
		values = vals
		row := vals[start:len(vals):len(vals)]
		rec := Record{Columns: sec.cols, Values: row, EventTime: event, Line: line, Entry: sec.entry, Hint: hint(st.hints, index)}
		batch = append(batch, rec)
		if a.diff != nil {
			id, sum := a.digests(sec, row, event)
			ids, sums = append(ids, id), append(sums, sum)
		}
		if len(batch) == st.cfg.BatchSize {
			if err := a.flush(ctx, batch, ids, sums); err != nil {
				return nil, err
			}
			batch, ids, sums = batch[:0], ids[:0], sums[:0]
		}
	}
	if len(batch) > 0 {
		if err := a.flush(ctx, batch, ids, sums); err != nil {
			return nil, err
		}
	}
	if f, ok := sink.(Flusher); ok {
		n, err := f.Flush(ctx)
		if err != nil {
			return nil, fmt.Errorf("applying %s: %w", a.rep.File, err)
		}
		a.rep.Applied += int64(n)
	}
	if a.diff != nil {
		if err := im.promoteDiff(ctx, job, a.diff); err != nil {
			return nil, err
		}
	}
	a.progress(true)
	a.rep.ApplyTime = time.Since(applyStart)
	a.rep.Duration = time.Since(st.start)
	return a.rep, nil
}

func (a *applier) flush(ctx context.Context, batch []Record, ids, sums []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("applying %s: %w", a.rep.File, err)
	}
	send := batch
	if a.diff != nil {
		changed, err := a.im.changed(ctx, a.diff, ids, sums)
		if err != nil {
			return err
		}
		send = make([]Record, 0, len(batch))
		for i, c := range changed {
			if c {
				send = append(send, batch[i])
			}
		}
		a.rep.Unchanged += int64(len(batch) - len(send))
	}
	var rejected []Rejection
	if len(send) > 0 {
		applied, rej, err := a.sink.Apply(ctx, send)
		if err != nil {
			return fmt.Errorf("applying %s: %w", a.rep.File, err)
		}
		a.rep.Applied += int64(applied)
		rejected = rej
		a.rejected(send, rej)
	}
	if a.diff != nil {
		if err := a.im.recordDiff(ctx, a.diff, batch, ids, sums, rejected); err != nil {
			return err
		}
	}
	a.progress(false)
	return nil
}

// rejected records the rows of batch that the sink rejected, with their
// values.
func (a *applier) rejected(batch []Record, rej []Rejection) {
	if len(rej) == 0 {
		return
	}
	type key struct {
		entry string
		line  int64
	}
	at := make(map[key]int, len(batch))
	for i, r := range batch {
		at[key{r.Entry, r.Line}] = i
	}
	for _, r := range rej {
		if r.Code == "" {
			r.Code = ReasonSinkRejected
		}
		a.rep.reject(a.st.cfg.MaxRejectionsKept, r)
		if i, ok := at[key{r.Entry, r.Line}]; ok {
			a.rep.RejectedRows.addStaged(r.Entry, r.Line, batch[i].Columns, batch[i].Values, r.Code, r.Reason)
		} else {
			a.rep.RejectedRows.add(RejectedRow{Entry: r.Entry, Line: r.Line, Code: r.Code, Reason: r.Reason})
		}
	}
}

// digests returns the row's identity digest and values digest (8 bytes
// each, as strings), from its staged values in section order.
func (a *applier) digests(sec *section, vals []string, event time.Time) (string, string) {
	ids, ok := a.idCols[sec]
	if !ok {
		for _, want := range a.st.cfg.IdentityColumns {
			for i, c := range sec.cols {
				if normName(c) == normName(want) {
					ids.cols = append(ids.cols, i)
					ids.names = append(ids.names, normName(c))
				}
			}
		}
		a.idCols[sec] = ids
	}
	b := a.hashBuf[:0]
	for k, i := range ids.cols {
		if vals[i] != "" {
			b = append(b, ids.names[k]...)
			b = append(b, 0)
			b = append(b, vals[i]...)
			break
		}
	}
	id := sha256.Sum256(b)
	b = b[:0]
	for _, i := range sec.sorted {
		b = append(b, sec.cols[i]...)
		b = append(b, 0)
		b = append(b, vals[i]...)
		b = append(b, 0)
	}
	if !event.IsZero() {
		b = event.AppendFormat(b, time.RFC3339Nano)
	}
	sum := sha256.Sum256(b)
	a.hashBuf = b
	return string(id[:8]), string(sum[:8])
}

func (a *applier) progress(final bool) {
	cfg := a.st.cfg
	if cfg.Progress == nil || (!final && time.Since(a.last) < cfg.ProgressInterval) {
		return
	}
	a.last = time.Now()
	cfg.Progress(Progress{File: a.rep.File, Stage: "applying", BytesRead: a.rep.BytesRead,
		BytesTotal: a.rep.BytesRead, RowsRead: a.rep.RowsRead, Applied: a.rep.Applied,
		Unchanged: a.rep.Unchanged, Rejected: a.rep.Rejected})
}

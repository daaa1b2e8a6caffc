package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Staged holds the verified rows of one file in a temporary staging file,
// ready to apply. Close removes it.
type Staged struct {
	Report *Report
	f      *os.File
	hints  []uint64 // the Prereader's answers by staged row (see hint)
	cfg    Config
	src    *countingReader
	start  time.Time
}

// Close removes the staging file. It is idempotent.
func (s *Staged) Close() error {
	if s.f == nil {
		return nil
	}
	_ = s.f.Close()
	err := os.Remove(s.f.Name())
	s.f = nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing staging file: %w", err)
	}
	return nil
}

// Stage reads the whole of src (named name, of size bytes if known, else
// 0), decodes, parses and checks it, and stages the good rows. It returns an
// error, and stages nothing, when the file fails any integrity check or has
// more bad rows than cfg allows; IsPermanent tells such file errors from
// transient ones (the source failing, ctx). With an error, the returned
// Staged may still be non-nil to carry the Report (rejections, warnings);
// it holds no rows.
func Stage(ctx context.Context, src io.Reader, name string, size int64, cfg Config) (*Staged, error) {
	cfg = cfg.WithDefaults()
	if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating temp dir %q: %w", cfg.TempDir, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{File: name, RejectedRows: newRejectedRows(cfg.RejectedRowsMax, cfg.RejectedBytesMax)}
	in := &countingReader{r: &errRecorder{r: src}}
	out, err := newStageWriter(cfg.TempDir, cfg.tempPattern(".stage"))
	if err != nil {
		return nil, err
	}
	lastTick := time.Now()
	p := &parser{cfg: &cfg, report: rep, out: out}
	if cfg.Prereader != nil {
		p.pre = newPrereader(ctx, cfg.Prereader)
	}
	progress := func() {
		if cfg.Progress == nil {
			return
		}
		cfg.Progress(Progress{File: name, Stage: "staging", BytesRead: in.n, BytesTotal: size,
			RowsRead: rep.RowsRead, Rejected: rep.Rejected})
	}
	p.tick = func() {
		if cfg.Progress != nil && p.good%1024 == 0 && time.Since(lastTick) >= cfg.ProgressInterval {
			lastTick = time.Now()
			progress()
		}
	}
	d := &decoder{cfg: &cfg, report: rep, parser: p}
	err = d.open(ctx, in, name, 0)
	var hints []uint64
	if p.pre != nil {
		hints = p.pre.finish()
	}
	rep.BytesRead = in.n
	if err == nil && p.latin1 > 0 {
		p.warn("%d fields were not UTF-8 and were read as Windows-1252 (Latin-1)", p.latin1)
	}
	if err == nil {
		total := p.good + p.bad
		if p.bad > 0 && (cfg.MaxBadRowShare < 0 || float64(p.bad)/float64(total) > cfg.MaxBadRowShare) {
			err = newBadFile(fmt.Errorf("%w: %d of %d rows rejected (limit %.0f%%)", ErrTooManyBadRows,
				p.bad, total, max(cfg.MaxBadRowShare, 0)*100))
		}
	}
	var f *os.File
	if err == nil {
		f, err = out.finish()
	}
	if err != nil {
		out.discard()
		failed := &Staged{Report: rep}
		if ctx.Err() != nil {
			return failed, fmt.Errorf("staging %s: %w", name, ctx.Err())
		}
		if src := in.r.(*errRecorder).err; src != nil && !errors.Is(err, src) {
			// The source failed first; whatever the decoder made of it
			// (a truncated stream), it is a transport error.
			return failed, fmt.Errorf("staging %s: reading: %w (%v)", name, src, err)
		}
		return failed, fmt.Errorf("staging %s: %w", name, err)
	}
	rep.RowsStaged = p.good
	rep.StageTime = time.Since(start)
	progress()
	return &Staged{Report: rep, f: f, cfg: cfg, src: in, start: start, hints: hints}, nil
}

// errRecorder remembers the source's first error other than io.EOF.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

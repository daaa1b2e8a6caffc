package csvimport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// The staging file is a sequence of tagged items:
//
//	'H' entry-name columns-count column-name...   a section header
//	'R' line event-time value...                  a row of the last section
//
// strings are uvarint length + bytes; line is uvarint; event time is varint
// unix nanoseconds with 0 meaning none. Rows of one section have exactly
// as many values as its columns.
const (
	tagHeader = 'H'
	tagRow    = 'R'
)

// stageWriter writes the staging file.
type stageWriter struct {
	f    *os.File
	w    *bufio.Writer
	ncol int
	tmp  [binary.MaxVarintLen64]byte
}

func newStageWriter(dir, pattern string) (*stageWriter, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating staging file in %q: %w", dir, err)
	}
	return &stageWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *stageWriter) uvarint(v uint64) {
	n := binary.PutUvarint(s.tmp[:], v)
	_, _ = s.w.Write(s.tmp[:n])
}

func (s *stageWriter) str(v string) {
	s.uvarint(uint64(len(v)))
	_, _ = s.w.WriteString(v)
}

func (s *stageWriter) header(entry string, cols []string) {
	_ = s.w.WriteByte(tagHeader)
	s.str(entry)
	s.uvarint(uint64(len(cols)))
	for _, c := range cols {
		s.str(c)
	}
	s.ncol = len(cols)
}

func (s *stageWriter) row(line int64, event time.Time, values []string) {
	_ = s.w.WriteByte(tagRow)
	s.uvarint(uint64(line))
	var ns int64
	if !event.IsZero() {
		ns = event.UnixNano()
	}
	n := binary.PutVarint(s.tmp[:], ns)
	_, _ = s.w.Write(s.tmp[:n])
	for _, v := range values {
		s.str(v)
	}
}

// finish flushes and rewinds the file for reading.
func (s *stageWriter) finish() (*os.File, error) {
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("writing staging file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewinding staging file: %w", err)
	}
	return s.f, nil
}

// discard removes the staging file.
func (s *stageWriter) discard() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

// section is the header rows are read under.
type section struct {
	entry  string
	cols   []string
	sorted []int // column indexes in name order, for row hashes
}

// stageReader reads the staging file back.
type stageReader struct {
	r    *bufio.Reader
	sec  *section
	buf  []byte
	row  []byte
	ends []int
}

func newStageReader(f *os.File) *stageReader {
	return &stageReader{r: bufio.NewReaderSize(f, 1<<20)}
}

func (s *stageReader) str() (string, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return "", err
	}
	if n > 1<<30 {
		return "", errors.New("corrupt staging file: string too long")
	}
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// next appends the next row's values to values, returning its section.
// It returns io.EOF at the end.
func (s *stageReader) next(values []string) (sec *section, line int64, event time.Time, out []string, err error) {
	for {
		tag, err := s.r.ReadByte()
		if err != nil {
			return nil, 0, time.Time{}, nil, err
		}
		switch tag {
		case tagHeader:
			entry, err := s.str()
			if err != nil {
				return nil, 0, time.Time{}, nil, unexpected(err)
			}
			n, err := binary.ReadUvarint(s.r)
			if err != nil {
				return nil, 0, time.Time{}, nil, unexpected(err)
			}
			sec := &section{entry: entry, cols: make([]string, n)}
			for i := range sec.cols {
				if sec.cols[i], err = s.str(); err != nil {
					return nil, 0, time.Time{}, nil, unexpected(err)
				}
			}
			sec.sorted = make([]int, n)
			for i := range sec.sorted {
				sec.sorted[i] = i
			}
			sort.Slice(sec.sorted, func(a, b int) bool { return sec.cols[sec.sorted[a]] < sec.cols[sec.sorted[b]] })
			s.sec = sec
		case tagRow:
			if s.sec == nil {
				return nil, 0, time.Time{}, nil, errors.New("corrupt staging file: row before header")
			}
			l, err := binary.ReadUvarint(s.r)
			if err != nil {
				return nil, 0, time.Time{}, nil, unexpected(err)
			}
			ns, err := binary.ReadVarint(s.r)
			if err != nil {
				return nil, 0, time.Time{}, nil, unexpected(err)
			}
			if ns != 0 {
				event = time.Unix(0, ns).UTC()
			}
			// One string per row, sliced into values: one allocation
			// instead of one per field.
			s.row = s.row[:0]
			s.ends = s.ends[:0]
			for range s.sec.cols {
				n, err := binary.ReadUvarint(s.r)
				if err != nil {
					return nil, 0, time.Time{}, nil, unexpected(err)
				}
				if n > 1<<30 {
					return nil, 0, time.Time{}, nil, errors.New("corrupt staging file: value too long")
				}
				start := len(s.row)
				s.row = append(s.row, make([]byte, n)...)
				if _, err := io.ReadFull(s.r, s.row[start:]); err != nil {
					return nil, 0, time.Time{}, nil, unexpected(err)
				}
				s.ends = append(s.ends, len(s.row))
			}
			all := string(s.row)
			prev := 0
			for _, e := range s.ends {
				values = append(values, all[prev:e])
				prev = e
			}
			return s.sec, int64(l), event, values, nil
		default:
			return nil, 0, time.Time{}, nil, fmt.Errorf("corrupt staging file: tag %q", tag)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return fmt.Errorf("corrupt staging file: %w", io.ErrUnexpectedEOF)
	}
	return err
}

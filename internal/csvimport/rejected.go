package csvimport

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Codes of the reasons a row is rejected (Rejection.Code, RejectedRow.Code).
const (
	// ReasonColumnCount: the row has another number of fields than the header.
	ReasonColumnCount = "column_count"
	// ReasonMissingIdentity: every identity column of the row is empty.
	ReasonMissingIdentity = "missing_identity"
	// ReasonBadTimestamp: a timestamp column's value does not parse.
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonBadValue: a value is not of its column's type.
	ReasonBadValue = "bad_value"
	// ReasonCSVSyntax: the row is not valid CSV (a stray quote).
	ReasonCSVSyntax = "csv_syntax"
	// ReasonEncoding: a value is not text (it holds a NUL byte).
	ReasonEncoding = "encoding"
	// ReasonSinkRejected: the sink (the profiles store) refused the row.
	ReasonSinkRejected = "profile_rejected"
)

// Columns a rejected-rows file adds to the file's own.
const (
	LineColumn   = "_line"
	ReasonColumn = "_reason"
	EntryColumn  = "_entry"
	// ExtraColumn, numbered from 1, holds the fields a row has past its
	// header.
	ExtraColumn = "_extra_"
)

// RejectedRow is a rejected row as it was read.
type RejectedRow struct {
	// Entry is the archive member (or the file) the row came from.
	Entry string
	// Line is the 1-based line where the row starts.
	Line int64
	// Fields are the row's fields in the order of its entry's header; nil
	// when the row could not be split into fields (csv_syntax).
	Fields []string
	Code   string
	Reason string
}

// RejectedRows are the first rejected rows of one file, with their raw
// fields, bounded in rows and bytes; the rows past the bounds are only
// counted (Dropped).
type RejectedRows struct {
	maxRows  int
	maxBytes int64
	entries  []rejectedEntry
	byEntry  map[string]int
	// Rows are the rows kept, in the order they were rejected.
	Rows []RejectedRow
	// Dropped counts the rejected rows not kept.
	Dropped int64
	size    int64
}

type rejectedEntry struct {
	name   string
	header []string
	index  map[string]int
}

// newRejectedRows keeps up to maxRows rows and maxBytes bytes of fields
// (none when either is negative).
func newRejectedRows(maxRows int, maxBytes int64) *RejectedRows {
	return &RejectedRows{maxRows: max(maxRows, 0), maxBytes: max(maxBytes, 0), byEntry: map[string]int{}}
}

// Len is the number of rejected rows, kept or not.
func (r *RejectedRows) Len() int64 {
	if r == nil {
		return 0
	}
	return int64(len(r.Rows)) + r.Dropped
}

// header records the columns of an entry (its header row, as made unique).
func (r *RejectedRows) header(entry string, header []string) {
	if r == nil {
		return
	}
	e := rejectedEntry{name: entry, header: append([]string(nil), header...), index: make(map[string]int, len(header))}
	for i, h := range header {
		e.index[h] = i
	}
	if i, ok := r.byEntry[entry]; ok {
		r.entries[i] = e
		return
	}
	r.byEntry[entry] = len(r.entries)
	r.entries = append(r.entries, e)
}

// add keeps row while the bounds allow, else counts it.
func (r *RejectedRows) add(row RejectedRow) {
	if r == nil {
		return
	}
	n := int64(len(row.Reason) + len(row.Code) + 24)
	for _, f := range row.Fields {
		n += int64(len(f)) + 3
	}
	if len(r.Rows) >= r.maxRows || r.size+n > r.maxBytes {
		r.Dropped++
		return
	}
	r.size += n
	r.Rows = append(r.Rows, row)
}

// addStaged adds a row the sink refused: its staged columns are put back
// at their places in the entry's header (columns that were not imported
// stay empty).
func (r *RejectedRows) addStaged(entry string, line int64, cols, values []string, code, reason string) {
	if r == nil {
		return
	}
	if len(r.Rows) >= r.maxRows {
		r.Dropped++
		return
	}
	var fields []string
	if i, ok := r.byEntry[entry]; ok {
		e := r.entries[i]
		fields = make([]string, len(e.header))
		for k, c := range cols {
			if j, ok := e.index[c]; ok && k < len(values) {
				fields[j] = values[k]
			}
		}
	} else {
		fields = append([]string(nil), values...)
	}
	r.add(RejectedRow{Entry: entry, Line: line, Fields: fields, Code: code, Reason: reason})
}

// Columns are the columns of the rejected-rows CSV: the union of the
// entries' headers in order of appearance, _extra_1... when a row has more
// fields than its header (the fields past the header, in order), then
// _line and _reason, and _entry when the rows come from more than one
// entry (archive members).
func (r *RejectedRows) Columns() []string {
	var cols []string
	seen := map[string]bool{}
	for _, e := range r.entries {
		for _, h := range e.header {
			if !seen[h] {
				seen[h] = true
				cols = append(cols, h)
			}
		}
	}
	for i := range r.extra() {
		cols = append(cols, ExtraColumn+strconv.Itoa(i+1))
	}
	cols = append(cols, LineColumn, ReasonColumn)
	if r.multiEntry() {
		cols = append(cols, EntryColumn)
	}
	return cols
}

// extra is the largest number of fields a kept row has past its header.
func (r *RejectedRows) extra() int {
	n := 0
	for _, row := range r.Rows {
		if i, ok := r.byEntry[row.Entry]; ok {
			n = max(n, len(row.Fields)-len(r.entries[i].header))
		}
	}
	return n
}

func (r *RejectedRows) multiEntry() bool {
	first := ""
	for i, row := range r.Rows {
		if i == 0 {
			first = row.Entry
		} else if row.Entry != first {
			return true
		}
	}
	return false
}

// WriteCSV writes the rejected rows as CSV: a header row (Columns), then
// each row with its fields under its columns, its line and its reason
// ("code: reason"). When rows were dropped, a last row says how many,
// with its other columns empty.
func (r *RejectedRows) WriteCSV(w io.Writer) error {
	cols := r.Columns()
	pos := make(map[string]int, len(cols))
	for i, c := range cols {
		if _, dup := pos[c]; !dup {
			pos[c] = i
		}
	}
	multi := r.multiEntry()
	extra := r.extra()
	nfile := len(cols) - 2 - extra // the entries' columns
	if multi {
		nfile--
	}
	nline := nfile + extra // where _line is
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return fmt.Errorf("writing rejected rows: %w", err)
	}
	out := make([]string, len(cols))
	for _, row := range r.Rows {
		clear(out)
		if i, ok := r.byEntry[row.Entry]; ok {
			header := r.entries[i].header
			for k, h := range header {
				if k < len(row.Fields) {
					out[pos[h]] = row.Fields[k]
				}
			}
			if len(row.Fields) > len(header) {
				copy(out[nfile:nline], row.Fields[len(header):])
			}
		} else {
			copy(out[:nfile], row.Fields)
		}
		out[nline] = strconv.FormatInt(row.Line, 10)
		out[nline+1] = row.Code + ": " + row.Reason
		if multi {
			out[nline+2] = row.Entry
		}
		if err := cw.Write(out); err != nil {
			return fmt.Errorf("writing rejected rows: %w", err)
		}
	}
	if r.Dropped > 0 {
		clear(out)
		out[nline+1] = fmt.Sprintf("truncated: %d more rejected rows are not listed (the first %d rows or %d bytes are kept)",
			r.Dropped, r.maxRows, r.maxBytes)
		if err := cw.Write(out); err != nil {
			return fmt.Errorf("writing rejected rows: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing rejected rows: %w", err)
	}
	return nil
}

package csvimport

import (
	"context"
	"errors"
	"time"
)

// Record is one staged row handed to a Sink.
type Record struct {
	// Columns are the header names (as in the file, made unique). The rows
	// of one file (or zip entry) share one Columns slice.
	Columns []string
	// Values are the row's values: Values[i] is the value of Columns[i].
	Values []string
	// EventTime is the first present, non-empty timestamp column's value;
	// zero when there is none.
	EventTime time.Time
	// Line is the 1-based line of the file where the row starts.
	Line int64
	// Entry is the zip entry the row came from; empty for other files.
	Entry string
	// Hint is the Sink's Preread answer for the row (see Prereader).
	Hint bool
}

// Field returns the value of the named column; "" when there is none.
func (r Record) Field(name string) string {
	for i, c := range r.Columns {
		if c == name {
			return r.Values[i]
		}
	}
	return ""
}

// Map returns the row as a map from column to value.
func (r Record) Map() map[string]string {
	m := make(map[string]string, len(r.Columns))
	for i, c := range r.Columns {
		m[c] = r.Values[i]
	}
	return m
}

// Rejection says why a row was not imported.
type Rejection struct {
	Line  int64  `json:"line"`
	Entry string `json:"entry,omitempty"`
	// Code is one of the Reason* codes; a Sink may leave it empty
	// (ReasonSinkRejected).
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason"`
}

// Sink receives staged records; the profiles package implements it. Apply
// returns how many records it applied and which it rejected (by Line and
// Entry); an error aborts the import (it is retried as a whole).
//
// The records slice and each Record's Values are reused for the next batch:
// Apply must not keep them (or Values) after it returns; copy what it
// needs. Columns and the strings themselves may be kept.
type Sink interface {
	Apply(ctx context.Context, records []Record) (applied int, rejected []Rejection, err error)
}

// Progress is reported while a file is imported.
type Progress struct {
	File       string
	Stage      string // "staging" or "applying"
	BytesRead  int64  // source bytes read (before decryption/decompression)
	BytesTotal int64  // source size when known, else 0
	RowsRead   int64
	Applied    int64
	Unchanged  int64 // skipped by Diff
	Rejected   int64
}

// Report is the outcome of one file.
type Report struct {
	File       string      `json:"file"`
	Entries    []string    `json:"entries,omitempty"` // zip entries read (first 1000)
	Encrypted  bool        `json:"encrypted"`         // decrypted and verified
	Delimiter  string      `json:"delimiter,omitempty"`
	Headers    []string    `json:"headers,omitempty"` // of the last entry
	BytesRead  int64       `json:"bytes_read"`
	RowsRead   int64       `json:"rows_read"`
	RowsStaged int64       `json:"rows_staged"`
	Applied    int64       `json:"applied"`
	Unchanged  int64       `json:"unchanged"`
	Rejected   int64       `json:"rejected"`
	Rejections []Rejection `json:"rejections,omitempty"` // first MaxRejectionsKept
	// RejectedRows are the first rejected rows with their fields (see
	// Config.RejectedRowsMax), for a rejected-rows file.
	RejectedRows *RejectedRows `json:"-"`
	Warnings     []string      `json:"warnings,omitempty"` // first 100
	StageTime    time.Duration `json:"stage_duration"`     // read, verify, parse, stage
	ApplyTime    time.Duration `json:"apply_duration"`     // read staged rows, diff, sink
	Duration     time.Duration `json:"duration"`           // both
}

// Bounds on the report's lists, so that a zip of a million empty entries
// cannot grow it without limit.
const (
	maxWarnings = 100
	maxEntries  = 1000
)

func (r *Report) warn(w string) {
	switch {
	case len(r.Warnings) < maxWarnings:
		r.Warnings = append(r.Warnings, w)
	case len(r.Warnings) == maxWarnings:
		r.Warnings = append(r.Warnings, "more warnings were left out")
	}
}

func (r *Report) entry(name string) {
	if len(r.Entries) < maxEntries {
		r.Entries = append(r.Entries, name)
	}
}

func (r *Report) reject(max int, rej Rejection) {
	r.Rejected++
	if len(r.Rejections) < max {
		r.Rejections = append(r.Rejections, rej)
	}
}

// Errors callers branch on. Errors that describe the file itself wrap
// ErrBadFile as well, so that IsPermanent reports them.
var (
	// ErrBadFile: the file (this version of it) cannot be imported; trying
	// again will not help. Its ledger entry is marked failed.
	ErrBadFile = errors.New("csv import: bad file")
	// ErrTooManyBadRows: more than MaxBadRowShare of the rows were rejected.
	ErrTooManyBadRows = errors.New("too many bad rows")
	// ErrNoIdentityColumn: the header has none of the identity columns.
	ErrNoIdentityColumn = errors.New("no identity column")
	// ErrNeedsKey: the file is PGP-encrypted and no key is configured.
	ErrNeedsKey = errors.New("file is PGP-encrypted but the authorization has no PGP private key")
	// ErrNotEncrypted: RequireEncryption is set and the file is plain.
	ErrNotEncrypted = errors.New("file is not PGP-encrypted but the authorization requires it")
	// ErrTooLarge: a decompression layer exceeded MaxDecompressedSize or
	// MaxCompressionRatio (a decompression bomb).
	ErrTooLarge = errors.New("decompressed content too large")
)

// badFile marks err as a property of the file.
type badFile struct{ err error }

func (b *badFile) Error() string   { return b.err.Error() }
func (b *badFile) Unwrap() []error { return []error{ErrBadFile, b.err} }

func newBadFile(err error) error {
	if err == nil || errors.Is(err, ErrBadFile) {
		return err
	}
	return &badFile{err: err}
}

// IsPermanent reports whether err is about the file itself (corrupt,
// tampered, not a CSV, too many bad rows...) rather than a transient failure
// (network, Redis, the sink, cancellation).
func IsPermanent(err error) bool { return errors.Is(err, ErrBadFile) }

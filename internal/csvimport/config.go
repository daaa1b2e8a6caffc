// Package csvimport imports one CSV file (Braze's segment export or any CSV
// with a header row) in two stages, in constant memory:
//
//  1. Stage: the source stream is decoded by content (OpenPGP, gzip,
//     bzip2, zstd, zip, tar; nested as found, e.g. a .tar.gz), parsed as
//     CSV, checked row by row, and the good rows are written in a compact
//     encoding to a temporary staging file. Nothing is applied until the
//     whole input has been read and every integrity check passed (PGP
//     MDC/AEAD and signature, gzip, bzip2 and zip CRC-32, zstd's checksum,
//     tar's header checksums and sizes): a corrupt, truncated or tampered
//     file (or any member of an archive) applies no row.
//  2. Apply: the staged rows are read back and handed to a Sink in batches;
//     with Diff, only rows that changed since the previous file of the job
//     are handed over.
//
// An Importer adds the per-job Ledger, so that each file version (path,
// size, modification time) is imported once, with its outcome recorded.
//
// Decisions (the Import CSV job documents them to users):
//   - Duplicate header names (compared case-insensitively, with spaces and
//     dashes as underscores) are made unique by suffixing "_2", "_3"... in
//     order of appearance, and a warning names them. Config column names
//     are matched the same way.
//   - Empty header names become "column_N" (1-based).
//   - An empty file or a header-only file imports 0 rows and is not an
//     error; the report carries a warning.
//   - Fields that are not valid UTF-8 are read as Windows-1252 (a superset
//     of Latin-1, which is what spreadsheet exports use) and the report
//     counts them.
//   - Identity columns (IdentityColumns) are always imported even when
//     Columns leaves them out; a row whose identity columns are all empty
//     is rejected. A file without any identity column fails.
//   - Empty values are passed to the Sink as empty strings; the Sink
//     decides whether empty clears a field.
//   - Diff ignores rows that disappeared from the file (no deletes).
//   - Only the holder of a job's Lease imports its files (ErrJobBusy
//     otherwise), so files are applied in the order the job lists them.
//     The lease outlives a dead holder by at most LeaseTTLDefault; the
//     next holder learns that it takes an import over (Lease.Previous)
//     and removes the staging files the dead one left.
//   - Rejected rows are counted, and the first ones kept with their raw
//     fields and a reason code (Report.RejectedRows), bounded in rows and
//     bytes.
//
// Wiring for the Import CSV job (sketch):
//
//	im := csvimport.NewImporter(rdb, ns, logger)
//	lease, err := im.Acquire(ctx, csvimport.Job{Account: acct, ID: jobID}, runID) // ErrJobBusy: come back later
//	defer lease.Release()
//	ctx = lease.Context()                              // ends when the lease is lost
//	c, err := limiter.Dial(ctx, acct, authID, sftpCfg) // sftpclient; Close releases the slot
//	files, err := c.List(ctx, folder)                  // filter by pattern, sort by name
//	for _, f := range files {
//		v := csvimport.FileVersion{Path: f.Path, Size: f.Size, ModTime: f.ModTime}
//		open := func(ctx context.Context) (io.ReadCloser, error) { return c.Open(ctx, f.Path) }
//		rep, err := lease.ImportFile(ctx, v, open, cfg, sink)
//		switch {
//		case errors.Is(err, csvimport.ErrAlreadyImported): // skip
//		case csvimport.IsPermanent(err): // log rep and err; the ledger says failed
//		case err != nil: // transient: return it, Asynq retries
//		}
//	}
//
// cfg comes from the job (delimiter, columns, timestamp_columns, diff) and
// the authorization (PGPKey and RequireEncryption for sftp_pgp), with
// TempDir = DATA_DIR/temp.
package csvimport

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/pgp"
)

// Defaults for Config fields left zero.
const (
	MaxBadRowShareDefault      = 0.10
	BatchSizeDefault           = 5000
	MaxDecompressedSizeDefault = int64(16) << 30
	MaxCompressionRatioDefault = 250.0
	MaxRejectionsKeptDefault   = 1000
	RejectedRowsMaxDefault     = 10000
	RejectedBytesMaxDefault    = int64(4) << 20
	ProgressIntervalDefault    = time.Second
)

// DefaultIdentityColumns are the header names (compared after
// normalisation: lower case, spaces and dashes as underscores) that identify
// a user, in order of preference for Diff.
var DefaultIdentityColumns = []string{
	"braze_id", "appboy_id", "user_id", "external_id", "email", "phone", "phone_number",
}

// DefaultTimestampLayouts are tried in order on timestamp columns (after
// unix seconds and milliseconds, which are recognised as plain integers).
var DefaultTimestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
	"01/02/2006 15:04:05",
	"01/02/2006",
	time.RFC1123Z,
	time.RFC1123,
}

// ColumnType is the expected type of a column's non-empty values.
type ColumnType string

// Column types a row is checked against.
const (
	TypeString ColumnType = "string"
	TypeInt    ColumnType = "int"
	TypeFloat  ColumnType = "float"
	TypeBool   ColumnType = "bool"
	TypeTime   ColumnType = "time"
)

// Config tunes the import of one file. The zero value (plus TempDir) reads
// a plain CSV with a header row and any delimiter.
type Config struct {
	// Delimiter is ',', '|', ';' or '\t'; 0 detects it from the first line.
	Delimiter rune
	// Headers, when set, name the columns and the first row is data.
	Headers []string
	// Columns to import (header names, case-insensitive); empty means all.
	Columns []string
	// TimestampColumns in order: the first present, non-empty one is the
	// row's event time. A value that does not parse rejects the row.
	TimestampColumns []string
	// TimestampLayouts; default DefaultTimestampLayouts. Zone-less values
	// are UTC.
	TimestampLayouts []string
	// IdentityColumns; default DefaultIdentityColumns.
	IdentityColumns []string
	// ColumnTypes checks values: a non-empty value that does not parse as
	// its column's type rejects the row.
	ColumnTypes map[string]ColumnType

	// MaxBadRowShare: when more than this share of the rows is rejected
	// while staging, the file fails and nothing is applied. Default 0.10;
	// negative means no bad row is tolerated.
	MaxBadRowShare float64
	// MaxRejectionsKept bounds the rejections listed in the Report (all are
	// counted). Default 1000.
	MaxRejectionsKept int
	// RejectedRowsMax and RejectedBytesMax bound the rejected rows kept
	// with their raw fields in Report.RejectedRows (the first rows, up to
	// this many rows and bytes of fields; the rest are counted). Defaults
	// RejectedRowsMaxDefault and RejectedBytesMaxDefault; negative keeps
	// none.
	RejectedRowsMax  int
	RejectedBytesMax int64
	// BatchSize is the number of records per Sink.Apply call. Default 5000:
	// enough for the profiles store to overlap preparing, writing and the
	// audiences hook of its batches within one call.
	BatchSize int

	// TempDir holds staging files (DATA_DIR/temp); Stage creates it when
	// missing. Default os.TempDir(). See CleanTempDir.
	TempDir string

	// PGPKey decrypts PGP-encrypted files (sftp_pgp authorizations). A
	// PGP file without a key fails.
	PGPKey *pgp.Key
	// PGPSigner, when set, must have signed every PGP file.
	PGPSigner *pgp.PublicKey
	// RequireEncryption refuses files that are not PGP-encrypted.
	RequireEncryption bool

	// EntryPattern selects the members of a zip or tar archive to import
	// (by base name); nil means DefaultEntryPattern. Members with ".." or
	// absolute names, directories, links and __MACOSX/ metadata are always
	// skipped.
	EntryPattern *regexp.Regexp
	// MaxDecompressedSize bounds the bytes any decompression layer may
	// produce. Default 16 GiB.
	MaxDecompressedSize int64
	// MaxCompressionRatio refuses a layer that expands more than this many
	// times (checked once it has produced 16 MiB). Default 250.
	MaxCompressionRatio float64

	// Diff hands the Sink only rows that changed since the previous file of
	// the same job (Importer only).
	Diff bool

	// ratioGrace is how much a layer may produce before its ratio is
	// checked; default ratioGrace (tests lower it).
	ratioGrace int64
	// tempTag names the temporary files of one job's imports (see
	// tempPattern); ImportFile sets it.
	tempTag string

	// Prereader, when set, looks the rows up while they are staged (see
	// Prereader). ImportFile sets it to the sink when the sink is one.
	Prereader Prereader
	// RowCheck, when set, checks each row that passed the parser's own
	// checks before it is staged: a row it refuses (a code, ReasonBadValue
	// when empty, and a reason) is rejected and counts toward
	// MaxBadRowShare. ImportFile sets it from the sink when the sink is a
	// Checker.
	RowCheck RowCheck

	// Progress, when set, is called at most every ProgressInterval and
	// once at the end of each stage.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxBadRowShare == 0 {
		c.MaxBadRowShare = MaxBadRowShareDefault
	}
	if c.MaxRejectionsKept <= 0 {
		c.MaxRejectionsKept = MaxRejectionsKeptDefault
	}
	if c.RejectedRowsMax == 0 {
		c.RejectedRowsMax = RejectedRowsMaxDefault
	}
	if c.RejectedBytesMax == 0 {
		c.RejectedBytesMax = RejectedBytesMaxDefault
	}
	if c.BatchSize <= 0 {
		c.BatchSize = BatchSizeDefault
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.MaxDecompressedSize <= 0 {
		c.MaxDecompressedSize = MaxDecompressedSizeDefault
	}
	if c.MaxCompressionRatio <= 0 {
		c.MaxCompressionRatio = MaxCompressionRatioDefault
	}
	if c.ratioGrace <= 0 {
		c.ratioGrace = ratioGrace
	}
	if len(c.IdentityColumns) == 0 {
		c.IdentityColumns = DefaultIdentityColumns
	}
	if len(c.TimestampLayouts) == 0 {
		c.TimestampLayouts = DefaultTimestampLayouts
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = ProgressIntervalDefault
	}
	return c
}

// Validate checks c after WithDefaults and names the first bad field.
func (c Config) Validate() error {
	switch c.Delimiter {
	case 0, ',', '|', ';', '\t':
	default:
		return fmt.Errorf("csv import config: delimiter %q is not one of , | ; or tab", c.Delimiter)
	}
	if c.MaxBadRowShare > 1 {
		return fmt.Errorf("csv import config: max bad row share %v is above 1", c.MaxBadRowShare)
	}
	for col, t := range c.ColumnTypes {
		switch t {
		case TypeString, TypeInt, TypeFloat, TypeBool, TypeTime:
		default:
			return fmt.Errorf("csv import config: column %q has unknown type %q", col, t)
		}
	}
	if c.RequireEncryption && c.PGPKey == nil {
		return fmt.Errorf("csv import config: encryption is required but no PGP key is set")
	}
	if st, err := os.Stat(c.TempDir); err != nil || !st.IsDir() {
		return fmt.Errorf("csv import config: temp dir %q is not a directory", c.TempDir)
	}
	return nil
}

// normName is the form header names are compared in.
func normName(s string) string {
	return nameReplacer.Replace(strings.ToLower(strings.TrimSpace(s)))
}

// nameReplacer is immutable and safe for concurrent use.
var nameReplacer = strings.NewReplacer(" ", "_", "-", "_")

// SameColumn reports whether two column names are the same after
// normalisation (lower case, spaces and dashes as underscores), as header
// names are compared with IdentityColumns and Columns.
func SameColumn(a, b string) bool { return normName(a) == normName(b) }

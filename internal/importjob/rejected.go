package importjob

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Bounds of the rejected rows kept per run, over all its files: the first
// rows are kept, the others counted (the file of the last kept ones ends
// with a row that says how many more there were).
const (
	RejectedRunRowsDefault  = 10000
	RejectedRunBytesDefault = int64(4) << 20
	// RejectedRetentionDefault is how long a run's rejected rows are kept
	// (IMPORT_REJECTED_RETENTION).
	RejectedRetentionDefault = 7 * 24 * time.Hour
)

// FileColumn is the column the rejected rows of a run with several files
// add to name the file of each row.
const FileColumn = "_file"

// RejectedStore keeps the rejected rows of import runs in Redis, per run
// and file, as CSV: the file's columns, _line and _reason.
type RejectedStore struct {
	rdb       redis.UniversalClient
	ns        keyspace.Namespace
	retention time.Duration
}

// NewRejectedStore returns the store on rdb under ns; rows expire after
// retention (RejectedRetentionDefault when 0).
func NewRejectedStore(rdb redis.UniversalClient, ns keyspace.Namespace, retention time.Duration) *RejectedStore {
	if retention <= 0 {
		retention = RejectedRetentionDefault
	}
	return &RejectedStore{rdb: rdb, ns: ns, retention: retention}
}

// rejectedKey: hash of one run's rejected rows; field "csv:<path>" holds
// the CSV of the file at path, "meta:<path>" its JSON rejectedMeta.
func rejectedKey(ns keyspace.Namespace, account, job, run string) string {
	return ns.Account(account, "csvimport", job, "run", run, "rejected")
}

type rejectedMeta struct {
	Rows    int       `json:"rows"`
	Dropped int64     `json:"dropped"`
	Bytes   int       `json:"bytes"`
	At      time.Time `json:"at"`
}

// RejectedFile is the rejected rows of one file of a run.
type RejectedFile struct {
	Path string
	// CSV is the rows with their header (see csvimport.RejectedRows.WriteCSV).
	CSV []byte
	// Rows kept and Dropped (counted only).
	Rows    int
	Dropped int64
}

// budget returns how many rows and bytes of rejected rows the run may
// still keep, not counting the file at path (which a retry replaces).
func (s *RejectedStore) budget(ctx context.Context, account, job, run, path string) (rows int, bytes int64, err error) {
	all, err := s.rdb.HGetAll(ctx, rejectedKey(s.ns, account, job, run)).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("reading the rejected rows of run %s: %w", run, err)
	}
	rows, bytes = RejectedRunRowsDefault, RejectedRunBytesDefault
	for f, v := range all {
		p, ok := strings.CutPrefix(f, "meta:")
		if !ok || p == path {
			continue
		}
		var m rejectedMeta
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return 0, 0, fmt.Errorf("decoding the rejected rows of run %s: %w", run, err)
		}
		rows -= m.Rows
		bytes -= int64(m.Bytes)
	}
	return rows, bytes, nil
}

// Save stores the rejected rows of the file at path for run, replacing
// what an earlier attempt stored, and returns their CSV.
func (s *RejectedStore) Save(ctx context.Context, account, job, run, path string, rows *csvimport.RejectedRows) ([]byte, error) {
	var b bytes.Buffer
	if err := rows.WriteCSV(&b); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(rejectedMeta{Rows: len(rows.Rows), Dropped: rows.Dropped, Bytes: b.Len(), At: time.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("encoding rejected rows: %w", err)
	}
	key := rejectedKey(s.ns, account, job, run)
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, key, "csv:"+path, b.Bytes(), "meta:"+path, meta)
	pipe.PExpire(ctx, key, s.retention)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("storing the rejected rows of %s: %w", path, err)
	}
	return b.Bytes(), nil
}

// Files returns the rejected rows of a run, by file path.
func (s *RejectedStore) Files(ctx context.Context, account, job, run string) ([]RejectedFile, error) {
	all, err := s.rdb.HGetAll(ctx, rejectedKey(s.ns, account, job, run)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the rejected rows of run %s: %w", run, err)
	}
	var out []RejectedFile
	for f, v := range all {
		p, ok := strings.CutPrefix(f, "csv:")
		if !ok {
			continue
		}
		rf := RejectedFile{Path: p, CSV: []byte(v)}
		var m rejectedMeta
		if raw, ok := all["meta:"+p]; ok && json.Unmarshal([]byte(raw), &m) == nil {
			rf.Rows, rf.Dropped = m.Rows, m.Dropped
		}
		out = append(out, rf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// WriteRun writes the rejected rows of a run as one CSV (WriteRejected);
// file, when not "", picks the rows of that file only. It returns how many
// files' rows it wrote: 0 when none are kept (or none of file), and then
// it writes nothing.
func (s *RejectedStore) WriteRun(ctx context.Context, w io.Writer, account, job, run, file string) (int, error) {
	files, err := s.Files(ctx, account, job, run)
	if err != nil {
		return 0, err
	}
	if file != "" {
		files = slices.DeleteFunc(files, func(f RejectedFile) bool { return f.Path != file })
	}
	if len(files) == 0 {
		return 0, nil
	}
	return len(files), WriteRejected(w, files)
}

// Delete forgets the rejected rows of a run.
func (s *RejectedStore) Delete(ctx context.Context, account, job, run string) error {
	if err := s.rdb.Unlink(ctx, rejectedKey(s.ns, account, job, run)).Err(); err != nil {
		return fmt.Errorf("deleting the rejected rows of run %s: %w", run, err)
	}
	return nil
}

// WriteRejected writes the rejected rows of files as one CSV. One file's
// rows are written as they are stored: its columns, _line, _reason (and
// _entry for archives with several members). The rows of several files
// come under the union of their columns, in order of appearance, with
// _file naming each row's file.
func WriteRejected(w io.Writer, files []RejectedFile) error {
	if len(files) == 1 {
		_, err := w.Write(files[0].CSV)
		return err
	}
	type parsed struct {
		path   string
		header []string
		rows   [][]string
	}
	var all []parsed
	var cols []string
	seen := map[string]bool{}
	extra := 0
	var tail []string // _extra_N..., _line, _reason, _entry, in this order
	for _, f := range files {
		r := csv.NewReader(bytes.NewReader(f.CSV))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil {
			return fmt.Errorf("reading the rejected rows of %s: %w", f.Path, err)
		}
		if len(recs) == 0 {
			continue
		}
		p := parsed{path: f.Path, header: recs[0], rows: recs[1:]}
		for _, h := range p.header {
			if seen[h] {
				continue
			}
			seen[h] = true
			switch n, isExtra := extraColumn(h); {
			case isExtra:
				extra = max(extra, n)
			case h == csvimport.LineColumn, h == csvimport.ReasonColumn, h == csvimport.EntryColumn:
			default:
				cols = append(cols, h)
			}
		}
		all = append(all, p)
	}
	for i := range extra {
		tail = append(tail, csvimport.ExtraColumn+strconv.Itoa(i+1))
	}
	for _, h := range []string{csvimport.LineColumn, csvimport.ReasonColumn, csvimport.EntryColumn} {
		if seen[h] {
			tail = append(tail, h)
		}
	}
	cols = append(append(cols, tail...), FileColumn)
	pos := make(map[string]int, len(cols))
	for i, c := range cols {
		pos[c] = i
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	out := make([]string, len(cols))
	for _, p := range all {
		for _, row := range p.rows {
			clear(out)
			for i, v := range row {
				if i < len(p.header) {
					out[pos[p.header[i]]] = v
				}
			}
			out[len(out)-1] = p.path
			if err := cw.Write(out); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// extraColumn reports whether h is _extra_N, and N.
func extraColumn(h string) (int, bool) {
	num, ok := strings.CutPrefix(h, csvimport.ExtraColumn)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n > 0
}

package csvimport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// parser turns one CSV stream into staged rows.
type parser struct {
	cfg    *Config
	report *Report
	out    *stageWriter
	tick   func()
	good   int64 // staged rows over all entries
	bad    int64 // rows rejected while staging
	latin1 int64 // fields read as Windows-1252
	pre    *prereader
}

// parse reads one CSV stream (one file or zip entry) to its end.
func (p *parser) parse(ctx context.Context, r io.Reader, entry string) error {
	// encoding/csv has no size limit: an unterminated quote would gather
	// the rest of the file into one field. The guard bounds the bytes read
	// for one record.
	guard := &recordGuard{r: r, max: maxRecordBytes}
	br := bufio.NewReaderSize(guard, 256<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	delim := p.cfg.Delimiter
	if delim == 0 {
		delim = detectDelimiter(br)
	}
	p.report.Delimiter = delimiterName(delim)

	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header := p.cfg.Headers
	if header == nil {
		rec, err := cr.Read()
		if err == io.EOF {
			p.warn("%sempty file: no header row, 0 rows", entryPrefix(entry))
			return nil
		}
		if err != nil {
			return newBadFile(fmt.Errorf("%sreading the header row: %w", entryPrefix(entry), err))
		}
		header = make([]string, len(rec))
		for i, h := range rec {
			header[i] = p.text(h)
		}
	}
	plan, err := p.plan(header, entry)
	if err != nil {
		return err
	}
	p.out.header(entry, plan.names)
	p.report.Headers = plan.names

	values := make([]string, len(plan.names))
	rows := int64(0)
	lastLine := 0
	if p.cfg.Headers == nil {
		lastLine, _ = cr.FieldPos(0) // the header's line
	}
	for {
		if rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := cr.Read()
		guard.n = 0
		if err == io.EOF {
			break
		}
		if errors.Is(err, errRecordTooLarge) {
			return newBadFile(fmt.Errorf("%sthe record after line %d is over %d bytes (an unterminated quote?)",
				entryPrefix(entry), lastLine, maxRecordBytes))
		}
		rows++
		p.report.RowsRead++
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			p.rejectRow(int64(pe.StartLine), entry, ReasonCSVSyntax, pe.Err.Error(), nil)
			continue
		}
		if err != nil {
			return err // the source failed (integrity, transport)
		}
		line, _ := cr.FieldPos(0)
		lastLine = line
		if code, reason := plan.check(p, rec, values); code != "" {
			p.rejectRow(int64(line), entry, code, reason, rec)
			continue
		}
		event, reason := plan.eventTime(p.cfg, rec)
		if reason != "" {
			p.rejectRow(int64(line), entry, ReasonBadTimestamp, reason, rec)
			continue
		}
		if p.cfg.RowCheck != nil {
			code, reason := p.cfg.RowCheck(Record{Columns: plan.names, Values: values, EventTime: event, Line: int64(line), Entry: entry})
			if code != "" || reason != "" {
				if code == "" {
					code = ReasonBadValue
				}
				p.rejectRow(int64(line), entry, code, reason, rec)
				continue
			}
		}
		p.out.row(int64(line), event, values)
		if p.pre != nil {
			p.pre.add(p.good, plan.names, values, event)
		}
		p.good++
		p.tick()
	}
	if rows == 0 {
		p.warn("%sheader only: 0 rows", entryPrefix(entry))
	}
	return nil
}

// maxRecordBytes bounds one CSV record (with the 256 KiB read-ahead).
const maxRecordBytes = 16 << 20

var errRecordTooLarge = errors.New("csv record too large")

// recordGuard fails once more than max bytes were read since n was last
// reset (after each record).
type recordGuard struct {
	r   io.Reader
	n   int64
	max int64
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.n > g.max {
		return 0, errRecordTooLarge
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}

// rejectRow counts a rejected row and keeps it, with a copy of its
// fields (rec is reused for the next row).
func (p *parser) rejectRow(line int64, entry, code, reason string, rec []string) {
	p.bad++
	p.report.reject(p.cfg.MaxRejectionsKept, Rejection{Line: line, Entry: entry, Code: code, Reason: reason})
	var fields []string
	if rec != nil {
		fields = append(make([]string, 0, len(rec)), rec...)
	}
	p.report.RejectedRows.add(RejectedRow{Entry: entry, Line: line, Fields: fields, Code: code, Reason: reason})
}

func (p *parser) warn(format string, args ...any) {
	p.report.warn(fmt.Sprintf(format, args...))
}

// text returns s as valid UTF-8, reading it as Windows-1252 when it is not.
func (p *parser) text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	p.latin1++
	return decodeWindows1252(s)
}

func entryPrefix(entry string) string {
	if entry == "" {
		return ""
	}
	return entry + ": "
}

// plan is how one header's rows are checked and staged.
type plan struct {
	names     []string // staged column names
	index     []int    // file column of each staged column
	width     int      // columns in the header
	identity  []int    // file columns that identify a user
	idNames   []string
	timestamp []int // file columns, in configured order
	layoutHit []int // per timestamp column, the layout that last parsed
	types     []ColumnType
}

func (p *parser) plan(raw []string, entry string) (*plan, error) {
	header := make([]string, len(raw))
	seen := make(map[string]int, len(raw))
	var dups []string
	for i, h := range raw {
		h = strings.TrimSpace(h)
		if h == "" {
			h = "column_" + strconv.Itoa(i+1)
		}
		name := h
		for n := 2; ; n++ {
			if _, dup := seen[normName(name)]; !dup {
				break
			}
			name = h + "_" + strconv.Itoa(n)
		}
		if name != h {
			dups = append(dups, fmt.Sprintf("%s (column %d) as %s", h, i+1, name))
		}
		seen[normName(name)] = i
		header[i] = name
	}
	if len(dups) > 0 {
		p.warn("%sduplicate header names renamed: %s", entryPrefix(entry), strings.Join(dups, ", "))
	}

	pl := &plan{width: len(header)}
	for _, c := range p.cfg.IdentityColumns {
		if i, ok := seen[normName(c)]; ok {
			pl.identity = append(pl.identity, i)
			pl.idNames = append(pl.idNames, header[i])
		}
	}
	p.report.RejectedRows.header(entry, header)
	if len(pl.identity) == 0 {
		return nil, newBadFile(fmt.Errorf("%s%w: the header has none of %s", entryPrefix(entry),
			ErrNoIdentityColumn, strings.Join(p.cfg.IdentityColumns, ", ")))
	}
	keep := make([]bool, len(header))
	if len(p.cfg.Columns) == 0 {
		for i := range keep {
			keep[i] = true
		}
	} else {
		var missing []string
		for _, c := range p.cfg.Columns {
			if i, ok := seen[normName(c)]; ok {
				keep[i] = true
			} else {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			p.warn("%scolumns not in the file: %s", entryPrefix(entry), strings.Join(missing, ", "))
		}
		for _, i := range pl.identity {
			keep[i] = true
		}
	}
	types := make(map[string]ColumnType, len(p.cfg.ColumnTypes))
	for c, t := range p.cfg.ColumnTypes {
		types[normName(c)] = t
	}
	for i, k := range keep {
		if k {
			pl.names = append(pl.names, header[i])
			pl.index = append(pl.index, i)
			pl.types = append(pl.types, types[normName(header[i])])
		}
	}
	for _, c := range p.cfg.TimestampColumns {
		if i, ok := seen[normName(c)]; ok {
			pl.timestamp = append(pl.timestamp, i)
			pl.layoutHit = append(pl.layoutHit, 0)
		}
	}
	return pl, nil
}

// check validates rec and fills values with the staged columns; it
// returns the code and reason to reject the row, or "".
func (pl *plan) check(p *parser, rec []string, values []string) (code, reason string) {
	if len(rec) != pl.width {
		return ReasonColumnCount, fmt.Sprintf("has %d fields, the header has %d", len(rec), pl.width)
	}
	hasID := false
	for _, i := range pl.identity {
		if strings.TrimSpace(rec[i]) != "" {
			hasID = true
			break
		}
	}
	if !hasID {
		return ReasonMissingIdentity, "no identity: " + strings.Join(pl.idNames, ", ") + " all empty"
	}
	for j, i := range pl.index {
		v := p.text(rec[i])
		values[j] = v
		if strings.IndexByte(v, 0) >= 0 {
			return ReasonEncoding, fmt.Sprintf("column %s holds a NUL byte: binary data is not text", pl.names[j])
		}
		if t := pl.types[j]; t != "" && t != TypeString && v != "" {
			if reason := checkType(t, v, p.cfg.TimestampLayouts); reason != "" {
				return ReasonBadValue, fmt.Sprintf("column %s: %s", pl.names[j], reason)
			}
		}
	}
	return "", ""
}

func (pl *plan) eventTime(cfg *Config, rec []string) (time.Time, string) {
	for j, i := range pl.timestamp {
		v := strings.TrimSpace(rec[i])
		if v == "" {
			continue
		}
		t, ok := parseTimeHint(v, cfg.TimestampLayouts, &pl.layoutHit[j])
		if !ok {
			return time.Time{}, fmt.Sprintf("timestamp %q does not parse", v)
		}
		return t, ""
	}
	return time.Time{}, ""
}

func checkType(t ColumnType, v string, layouts []string) string {
	v = strings.TrimSpace(v)
	var err error
	switch t {
	case TypeInt:
		_, err = strconv.ParseInt(v, 10, 64)
	case TypeFloat:
		_, err = strconv.ParseFloat(v, 64)
	case TypeBool:
		_, err = strconv.ParseBool(v)
	case TypeTime:
		if _, ok := parseTime(v, layouts); !ok {
			err = errors.New("bad time")
		}
	}
	if err != nil {
		return fmt.Sprintf("%q is not a valid %s", v, t)
	}
	return ""
}

// parseTimeHint is parseTime trying layouts[*hit] first and remembering
// the layout that matched: a column keeps one format.
func parseTimeHint(v string, layouts []string, hit *int) (time.Time, bool) {
	if *hit < len(layouts) {
		if t, err := time.Parse(layouts[*hit], v); err == nil {
			return t.UTC(), true
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return unixTime(n), true
	}
	for i, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			*hit = i
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func unixTime(n int64) time.Time {
	if n > 1e11 || n < -1e11 { // milliseconds
		return time.UnixMilli(n).UTC()
	}
	return time.Unix(n, 0).UTC()
}

// parseTime reads unix seconds or milliseconds, or one of layouts (UTC when
// the layout has no zone).
func parseTime(v string, layouts []string) (time.Time, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return unixTime(n), true
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// detectDelimiter picks the candidate that occurs most often outside quotes
// on the first line; ',' when none does.
func detectDelimiter(br *bufio.Reader) rune {
	head, _ := br.Peek(64 << 10)
	counts := map[byte]int{}
	inQuote := false
	for _, c := range head {
		if c == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if c == '\n' {
			break
		}
		switch c {
		case ',', '|', ';', '\t':
			counts[c]++
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', '\t', ';', '|'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return rune(best)
}

func delimiterName(d rune) string {
	if d == '\t' {
		return "tab"
	}
	return string(d)
}

// windows1252 maps bytes 0x80-0x9F; other bytes map to the same code point
// (Latin-1).
var windows1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

func decodeWindows1252(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case c < 0xA0:
			b.WriteRune(windows1252[c-0x80])
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}

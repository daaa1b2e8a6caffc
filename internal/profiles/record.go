package profiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one incoming record of a stream.
type Record struct {
	// Fields are the source fields. Values may be JSON-decoded values
	// (string, float64, json.Number, bool, []any, map[string]any), Go numbers,
	// time.Time or strings; mapped fields are converted to their type. Empty
	// strings and nil count as absent (they never clear a stored value).
	Fields map[string]any
	// Strings are the source fields of a record whose values are all
	// strings, used when Fields is nil. Upsert reads the map only during the
	// call.
	Strings map[string]string
	// Columns and Values are a CSV row, used when Fields and Strings are
	// nil: Values[i] is the value of column Columns[i]. Rows that share one
	// Columns slice have their columns mapped once. Upsert reads both only
	// during the call and does not change them.
	Columns []string
	Values  []string
	// EventTime is when the data was true. Zero means: the stream's
	// timestamp field, else Arrival.
	EventTime time.Time
	// Arrival is when the record reached brazesync; zero means now.
	Arrival time.Time
}

// StringRecord builds a Record from string fields, as a CSV row gives them.
// It copies them into Fields; set Record.Strings to avoid the copy.
func StringRecord(fields map[string]string, eventTime time.Time) Record {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		m[k] = v
	}
	return Record{Fields: m, EventTime: eventTime}
}

// Limits on one record.
const (
	MaxRecordFields   = 1000
	MaxIdentityLength = 512
)

// compiledMapping is a Mapping ready for fast lookups.
type compiledMapping struct {
	Mapping
	// fingerprint tells mappings apart (its JSON).
	fingerprint string
	bySource    map[string]*FieldMapping
	tsSource    string
	idFields    []string
	// mayCollide names the fields that two sources of one record can fill:
	// the target of several sources, or a target that a record can also
	// carry unmapped under its own name. Only those need dropField.
	mayCollide map[string]bool
	// resolved caches lookup by raw source name (nil: unmapped), up to
	// maxResolved names.
	resolved  sync.Map
	nResolved atomic.Int32
}

// maxResolved bounds the raw source names a mapping caches.
const maxResolved = 4096

func compile(m Mapping) *compiledMapping {
	c := &compiledMapping{Mapping: m, bySource: make(map[string]*FieldMapping, len(m.Fields)), mayCollide: map[string]bool{}}
	if fp, err := json.Marshal(m); err == nil {
		c.fingerprint = string(fp)
	}
	seen := map[string]bool{}
	targets := map[string]int{}
	for i := range m.Fields {
		f := &m.Fields[i]
		c.bySource[normalizeSource(f.Source)] = f
		targets[f.Field]++
		if f.Identity && !seen[f.Field] {
			seen[f.Field] = true
			c.idFields = append(c.idFields, f.Field)
		}
	}
	for field, n := range targets {
		if _, mapped := c.bySource[normalizeSource(field)]; n > 1 || !mapped {
			c.mayCollide[field] = true
		}
	}
	c.tsSource = normalizeSource(m.TimestampField)
	return c
}

func (c *compiledMapping) lookup(source string) *FieldMapping {
	if f, ok := c.bySource[source]; ok {
		return f
	}
	if f, ok := c.resolved.Load(source); ok {
		return f.(*FieldMapping)
	}
	f := c.bySource[normalizeSource(source)]
	if c.nResolved.Load() < maxResolved {
		c.nResolved.Add(1)
		c.resolved.Store(source, f)
	}
	return f
}

func (c *compiledMapping) isTimestampSource(source string) bool {
	return c.tsSource != "" && (source == c.tsSource || normalizeSource(source) == c.tsSource)
}

// prepared is a record converted for a write: its identities, event time
// and stored fields.
type prepared struct {
	index int
	ts    int64    // event time, unix ms
	ids   []string // identity index suffixes "field:value"
	data  string   // the fields as a JSON object of stored values
	// blob is the stored form (see stored.go) of the profile this record
	// creates when no profile has its identities; data is its tail.
	blob string
	// fresh: a Bulk's Preread found none of its identities (see Bulk).
	fresh bool
}

// each calls fn for every source field of the record (Fields, else Strings,
// else Columns and Values) until fn returns false.
func (r *Record) each(fn func(k string, v any) bool) {
	switch {
	case r.Fields != nil:
		for k, v := range r.Fields {
			if !fn(k, v) {
				return
			}
		}
	case r.Strings != nil:
		for k, v := range r.Strings {
			if !fn(k, v) {
				return
			}
		}
	default:
		for i, k := range r.Columns {
			if !fn(k, r.Values[i]) {
				return
			}
		}
	}
}

func (r *Record) len() int {
	switch {
	case r.Fields != nil:
		return len(r.Fields)
	case r.Strings != nil:
		return len(r.Strings)
	}
	return len(r.Columns)
}

// columnPlan is how one column of a CSV row is mapped, worked out once for
// every row that shares the Columns slice.
type columnPlan struct {
	f       *FieldMapping // nil: unmapped
	collide bool          // mayCollide of its target field
	key     string        // the target field's JSON key (storedField.key)
}

// preparer maps and types the records of one call, keeping what it can reuse
// from record to record: the fields gathered and the plan of the last
// Columns slice.
type preparer struct {
	m      *compiledMapping
	now    time.Time
	encode bool // build data; else only check
	fields []storedField
	buf    []byte   // data being encoded
	cols   []string // the Columns slice plan was made for
	plan   []columnPlan
	tsCol  int // the column of the timestamp field; -1: none
}

// newPreparer returns a preparer of records arriving at now; with encode
// false it only checks them (no data is built).
func (c *compiledMapping) newPreparer(now time.Time, encode bool) *preparer {
	return &preparer{m: c, now: now, encode: encode}
}

// planFor returns the plan of cols, reusing the last one when cols is the
// same slice.
func (p *preparer) planFor(cols []string) []columnPlan {
	if p.plan != nil && len(cols) == len(p.cols) && &cols[0] == &p.cols[0] {
		return p.plan
	}
	c := p.m
	p.cols, p.plan, p.tsCol = cols, make([]columnPlan, len(cols)), -1
	for i, k := range cols {
		f := c.lookup(k)
		name := k
		if f != nil {
			name = f.Field
		}
		p.plan[i] = columnPlan{f: f, collide: c.mayCollide[name], key: string(appendJSONKey(nil, name))}
		if p.tsCol < 0 && c.isTimestampSource(k) {
			p.tsCol = i
		}
	}
	return p.plan
}

// Kinds of RecordError: what of a record made it rejected.
const (
	// RejectedShape: the record is empty, too wide, or has values
	// without columns.
	RejectedShape = "shape"
	// RejectedTimestamp: the mapping's timestamp field does not parse.
	RejectedTimestamp = "timestamp"
	// RejectedValue: a mapped field's value is not of the field's type,
	// or an identity is malformed (too long, a line break).
	RejectedValue = "value"
	// RejectedIdentity: the record has no identity.
	RejectedIdentity = "identity"
)

// RecordError is why a record is rejected; its message is the rejection's
// reason.
type RecordError struct {
	Kind string
	Err  error
}

func (e *RecordError) Error() string { return e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

// rejectionKind is the Kind of a RecordError err, else RejectedShape.
func rejectionKind(err error) string {
	var re *RecordError
	if errors.As(err, &re) {
		return re.Kind
	}
	return RejectedShape
}

// prepare maps and types one record. It returns a reason when the record must
// be rejected.
func (p *preparer) prepare(rec Record) (prepared, error) {
	c, encode := p.m, p.encode
	n := rec.len()
	if n == 0 {
		return prepared{}, &RecordError{Kind: RejectedShape, Err: fmt.Errorf("the record is empty")}
	}
	if n > MaxRecordFields {
		return prepared{}, &RecordError{Kind: RejectedShape, Err: fmt.Errorf("the record has %d fields, at most %d", n, MaxRecordFields)}
	}
	var plan []columnPlan
	if rec.Fields == nil && rec.Strings == nil {
		if len(rec.Values) != len(rec.Columns) {
			return prepared{}, &RecordError{Kind: RejectedShape, Err: fmt.Errorf("the record has %d values for %d columns", len(rec.Values), len(rec.Columns))}
		}
		plan = p.planFor(rec.Columns)
	}
	var err error
	ts := rec.EventTime
	switch {
	case !ts.IsZero() || c.tsSource == "":
	case plan != nil:
		if p.tsCol >= 0 && strings.TrimSpace(rec.Values[p.tsCol]) != "" {
			t, terr := toTimestamp(rec.Values[p.tsCol])
			if terr != nil {
				return prepared{}, &RecordError{Kind: RejectedTimestamp, Err: fmt.Errorf("timestamp field %q: %v", rec.Columns[p.tsCol], terr)}
			}
			ts = t
		}
	default:
		rec.each(func(k string, v any) bool {
			if !c.isTimestampSource(k) {
				return true
			}
			if s, isStr := v.(string); v == nil || (isStr && strings.TrimSpace(s) == "") {
				return false
			}
			t, terr := toTimestamp(v)
			if terr != nil {
				err = &RecordError{Kind: RejectedTimestamp, Err: fmt.Errorf("timestamp field %q: %v", k, terr)}
				return false
			}
			ts = t
			return false
		})
		if err != nil {
			return prepared{}, err
		}
	}
	if ts.IsZero() {
		ts = rec.Arrival
	}
	if ts.IsZero() {
		ts = p.now
	}
	out := prepared{ts: ts.UnixMilli()}
	fields := p.fields[:0]
	defer func() { p.fields = fields[:0] }()
	// add takes one source field, mapped by cp (nil: look it up); a string
	// value comes as s (isStr), without being boxed, else as v.
	add := func(k string, cp *columnPlan, v any, s string, isStr bool) bool {
		var (
			code byte
			text string
			ok   bool
			name = k
			f    *FieldMapping
		)
		if cp != nil {
			f = cp.f
		} else {
			f = c.lookup(k)
		}
		if f != nil {
			var terr error
			if isStr {
				code, text, ok, terr = typedString(f.Type, s)
			} else {
				code, text, ok, terr = typedValue(f.Type, v)
			}
			if terr != nil {
				err = &RecordError{Kind: RejectedValue, Err: fmt.Errorf("field %q: %v", k, terr)}
				return false
			}
			name = f.Field
			if ok && f.Identity {
				id, suffix, ierr := identity(f, k, text)
				if ierr != nil {
					err = &RecordError{Kind: RejectedValue, Err: ierr}
					return false
				}
				text = id
				if !slices.Contains(out.ids, suffix) {
					if out.ids == nil {
						out.ids = make([]string, 0, len(c.idFields))
					}
					out.ids = append(out.ids, suffix)
				}
			}
		} else {
			if !encode || strings.TrimSpace(k) == "" {
				return true // unmapped values cannot be wrong
			}
			if isStr {
				code, text, ok = codeString, s, strings.TrimSpace(s) != ""
			} else {
				code, text, ok = inferredValue(v)
			}
		}
		if !ok || !encode {
			return true
		}
		if (cp != nil && cp.collide) || (cp == nil && c.mayCollide[name]) {
			fields = dropField(fields, name)
		}
		sf := storedField{name: name, code: code, text: text}
		if cp != nil {
			sf.key = cp.key
		}
		fields = append(fields, sf)
		return true
	}
	switch {
	case rec.Fields != nil:
		for k, v := range rec.Fields {
			s, isStr := v.(string)
			if !add(k, nil, v, s, isStr) {
				break
			}
		}
	case rec.Strings != nil:
		for k, s := range rec.Strings {
			if !add(k, nil, nil, s, true) {
				break
			}
		}
	default:
		for i, s := range rec.Values {
			if !add(rec.Columns[i], &plan[i], nil, s, true) {
				break
			}
		}
	}
	if err != nil {
		return prepared{}, err
	}
	if len(out.ids) == 0 {
		return prepared{}, &RecordError{Kind: RejectedIdentity, Err: fmt.Errorf("no identity: the record needs one of %s", strings.Join(c.idFields, ", "))}
	}
	if encode {
		// The profile this record creates, as it is stored, in the same
		// allocation as its data.
		b := appendProfileHead(p.buf[:0], out.ts, out.ts, out.ts, out.ids)
		head := len(b)
		p.buf = appendData(b, fields)
		out.blob = string(p.buf)
		out.data = out.blob[head:]
	}
	return out, nil
}

// identity normalizes the value text of identity field f (source k) and
// returns it with its index suffix.
func identity(f *FieldMapping, k, text string) (id, suffix string, err error) {
	id = normalizeIdentity(f.Field, text)
	if len(id) > MaxIdentityLength {
		return "", "", fmt.Errorf("identity %q is longer than %d bytes", k, MaxIdentityLength)
	}
	if strings.IndexByte(id, '\n') >= 0 || strings.IndexByte(id, '\r') >= 0 {
		return "", "", fmt.Errorf("identity %q contains a line break", k)
	}
	return id, identitySuffix(f.Field, id), nil
}

// identities returns the identity suffixes of a record, as prepare finds
// them, without typing or encoding its other fields (for Bulk.Preread);
// ok is false when prepare rejects the record for its identities or for
// having none. A record it accepts, prepare may still reject.
func (p *preparer) identities(rec Record) (ids []string, ok bool) {
	if rec.Fields != nil || rec.Strings != nil || len(rec.Columns) == 0 ||
		len(rec.Values) != len(rec.Columns) || len(rec.Columns) > MaxRecordFields {
		out, err := p.prepare(rec)
		return out.ids, err == nil
	}
	for i, cp := range p.planFor(rec.Columns) {
		f := cp.f
		if f == nil || !f.Identity {
			continue
		}
		_, text, present, err := typedString(f.Type, rec.Values[i])
		if err != nil {
			return nil, false
		}
		if !present {
			continue
		}
		_, suffix, err := identity(f, rec.Columns[i], text)
		if err != nil {
			return nil, false
		}
		if !slices.Contains(ids, suffix) {
			ids = append(ids, suffix)
		}
	}
	return ids, len(ids) > 0
}

// dropField removes name from fields (two sources mapped to one field: the
// later one wins).
func dropField(fields []storedField, name string) []storedField {
	for i := range fields {
		if fields[i].name == name {
			return append(fields[:i], fields[i+1:]...)
		}
	}
	return fields
}

// normalizeIdentity makes equal identities compare equal: trimmed, and e-mail
// addresses in lower case.
func normalizeIdentity(field, v string) string {
	v = strings.TrimSpace(v)
	if field == "email" {
		v = strings.ToLower(v)
	}
	return v
}

package profiles

import (
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
	// Strings are the source fields of a record whose values are all strings
	// (a CSV row), used when Fields is nil. Upsert reads the map only during
	// the call.
	Strings map[string]string
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
	bySource map[string]*FieldMapping
	tsSource string
	idFields []string
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

// prepared is a record converted for the upsert script.
type prepared struct {
	index int
	ts    int64    // event time, unix ms
	ids   []string // identity index suffixes "field:value"
	data  string   // the fields as a JSON object of stored values
}

// each calls fn for every source field of the record (Fields, else Strings)
// until fn returns false.
func (r *Record) each(fn func(k string, v any) bool) {
	if r.Fields != nil {
		for k, v := range r.Fields {
			if !fn(k, v) {
				return
			}
		}
		return
	}
	for k, v := range r.Strings {
		if !fn(k, v) {
			return
		}
	}
}

func (r *Record) len() int {
	if r.Fields != nil {
		return len(r.Fields)
	}
	return len(r.Strings)
}

// prepare maps and types one record. It returns a reason when the record must
// be rejected. With scratch nil it only checks (no data is built); else the
// record's fields are gathered in *scratch, reused from record to record.
func (c *compiledMapping) prepare(rec Record, now time.Time, scratch *[]storedField) (prepared, error) {
	encode := scratch != nil
	n := rec.len()
	if n == 0 {
		return prepared{}, fmt.Errorf("the record is empty")
	}
	if n > MaxRecordFields {
		return prepared{}, fmt.Errorf("the record has %d fields, at most %d", n, MaxRecordFields)
	}
	var err error
	ts := rec.EventTime
	if ts.IsZero() && c.tsSource != "" {
		rec.each(func(k string, v any) bool {
			if !c.isTimestampSource(k) {
				return true
			}
			if s, isStr := v.(string); v == nil || (isStr && strings.TrimSpace(s) == "") {
				return false
			}
			t, terr := toTimestamp(v)
			if terr != nil {
				err = fmt.Errorf("timestamp field %q: %v", k, terr)
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
		ts = now
	}
	p := prepared{ts: ts.UnixMilli()}
	var fields []storedField
	if encode {
		fields = (*scratch)[:0]
		defer func() { *scratch = fields[:0] }()
	}
	// add takes one source field; a string value comes as s (isStr), without
	// being boxed, else as v.
	add := func(k string, v any, s string, isStr bool) bool {
		var (
			code byte
			text string
			ok   bool
			name = k
		)
		if f := c.lookup(k); f != nil {
			var terr error
			if isStr {
				code, text, ok, terr = typedString(f.Type, s)
			} else {
				code, text, ok, terr = typedValue(f.Type, v)
			}
			if terr != nil {
				err = fmt.Errorf("field %q: %v", k, terr)
				return false
			}
			name = f.Field
			if ok && f.Identity {
				id := normalizeIdentity(f.Field, text)
				if len(id) > MaxIdentityLength {
					err = fmt.Errorf("identity %q is longer than %d bytes", k, MaxIdentityLength)
					return false
				}
				if strings.ContainsAny(id, "\n\r") {
					err = fmt.Errorf("identity %q contains a line break", k)
					return false
				}
				text = id
				if suffix := identitySuffix(f.Field, id); !slices.Contains(p.ids, suffix) {
					p.ids = append(p.ids, suffix)
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
		if c.mayCollide[name] {
			fields = dropField(fields, name)
		}
		fields = append(fields, storedField{name: name, code: code, text: text})
		return true
	}
	if rec.Fields != nil {
		for k, v := range rec.Fields {
			s, isStr := v.(string)
			if !add(k, v, s, isStr) {
				break
			}
		}
	} else {
		for k, s := range rec.Strings {
			if !add(k, nil, s, true) {
				break
			}
		}
	}
	if err != nil {
		return prepared{}, err
	}
	if len(p.ids) == 0 {
		return prepared{}, fmt.Errorf("no identity: the record needs one of %s", strings.Join(c.idFields, ", "))
	}
	if encode {
		p.data = encodeData(p.ts, fields)
	}
	return p, nil
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

package profiles

import (
	"fmt"
	"slices"
	"strings"
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
	// collisions is set when two sources map to the same field.
	collisions bool
}

func compile(m Mapping) *compiledMapping {
	c := &compiledMapping{Mapping: m, bySource: make(map[string]*FieldMapping, len(m.Fields))}
	seen := map[string]bool{}
	targets := map[string]bool{}
	for i := range m.Fields {
		f := &m.Fields[i]
		c.bySource[normalizeSource(f.Source)] = f
		c.collisions = c.collisions || targets[f.Field]
		targets[f.Field] = true
		if f.Identity && !seen[f.Field] {
			seen[f.Field] = true
			c.idFields = append(c.idFields, f.Field)
		}
	}
	c.tsSource = normalizeSource(m.TimestampField)
	return c
}

func (c *compiledMapping) lookup(source string) *FieldMapping {
	if f, ok := c.bySource[source]; ok {
		return f
	}
	return c.bySource[normalizeSource(source)]
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
// be rejected. Without encode it only checks (no data is built).
func (c *compiledMapping) prepare(rec Record, now time.Time, encode bool) (prepared, error) {
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
		fields = make([]storedField, 0, n)
	}
	rec.each(func(k string, v any) bool {
		var (
			code byte
			text string
			ok   bool
			name = k
		)
		if f := c.lookup(k); f != nil {
			var terr error
			code, text, ok, terr = typedValue(f.Type, v)
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
			code, text, ok = inferredValue(v)
		}
		if !ok || !encode {
			return true
		}
		if c.collisions {
			fields = dropField(fields, name)
		}
		fields = append(fields, storedField{name: name, code: code, text: text})
		return true
	})
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

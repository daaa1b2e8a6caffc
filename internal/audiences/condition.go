package audiences

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
)

// view gives a rule access to a profile's values by field reference.
type view struct{ p *profiles.Profile }

// get returns the value of ref: string, float64, bool, time.Time or []string,
// and whether it is present.
func (v *view) get(ref fieldRef) (any, bool) {
	switch ref.kind {
	case refFirstSeen:
		return v.p.FirstSeen, !v.p.FirstSeen.IsZero()
	case refLastSeen:
		return v.p.LastSeen, !v.p.LastSeen.IsZero()
	case refID:
		return v.p.ID, v.p.ID != ""
	case refIdentity:
		ids, ok := v.p.Identities[ref.name]
		return ids, ok && len(ids) > 0
	}
	val, ok := v.p.Fields[ref.name]
	if !ok || val == nil {
		return nil, false
	}
	switch x := val.(type) {
	case string:
		return x, x != ""
	case []string:
		return x, len(x) > 0
	case []any: // tolerate lists decoded from JSON
		ss := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				ss = append(ss, s)
			}
		}
		return ss, len(ss) > 0
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return val, true
}

// operand is a constant of a condition, decoded once at compile time.
type operand struct {
	kind  int // opString, opNumber, opBool
	s     string
	f     float64
	b     bool
	date  bool      // s parses as a date or timestamp
	lower time.Time // the instant, or the start of the day
	upper time.Time // the instant, or the start of the next day
}

const (
	opString = iota
	opNumber
	opBool
)

func parseOperand(raw json.RawMessage, path string) (operand, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return operand{}, &fault.ValidationError{Field: path, Message: "missing value"}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return operand{}, &fault.ValidationError{Field: path, Message: "not valid JSON: " + err.Error()}
	}
	return scalarOperand(v, path)
}

func scalarOperand(v any, path string) (operand, error) {
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return operand{}, &fault.ValidationError{Field: path, Message: "holds a NUL character"}
		}
		o := operand{kind: opString, s: x}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			o.date, o.lower, o.upper = true, t, t
		} else if t, err := time.Parse(time.DateOnly, x); err == nil {
			o.date, o.lower, o.upper = true, t, t.AddDate(0, 0, 1)
		}
		return o, nil
	case float64:
		return operand{kind: opNumber, f: x}, nil
	case bool:
		return operand{kind: opBool, b: x}, nil
	}
	return operand{}, &fault.ValidationError{Field: path, Message: fmt.Sprintf("want a string, number or boolean, got %s", jsonKind(v))}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// asTime returns a date value of a field: time.Time, or a string holding an
// RFC 3339 timestamp.
func asTime(val any) (time.Time, bool) {
	switch x := val.(type) {
	case time.Time:
		return x, true
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// equal reports whether a field value equals the operand.
func (o operand) equal(val any) bool {
	switch x := val.(type) {
	case string:
		return o.kind == opString && x == o.s
	case []string:
		if o.kind != opString {
			return false
		}
		for _, e := range x {
			if e == o.s {
				return true
			}
		}
		return false
	case float64:
		return o.kind == opNumber && x == o.f
	case bool:
		return o.kind == opBool && x == o.b
	case time.Time:
		if !o.date {
			return false
		}
		if o.lower.Equal(o.upper) {
			return x.Equal(o.lower)
		}
		return !x.Before(o.lower) && x.Before(o.upper)
	}
	return false
}

// compare orders a field value against the operand: -1, 0, +1, and false when
// they are not comparable. A date-only operand is the whole day: a time inside
// it compares equal.
func (o operand) compare(val any) (int, bool) {
	if o.kind == opNumber {
		f, ok := val.(float64)
		if !ok || math.IsNaN(f) {
			return 0, false
		}
		switch {
		case f < o.f:
			return -1, true
		case f > o.f:
			return 1, true
		}
		return 0, true
	}
	t, ok := asTime(val)
	if !ok || !o.date {
		return 0, false
	}
	switch {
	case t.Before(o.lower):
		return -1, true
	case o.lower.Equal(o.upper) && t.After(o.lower), !o.lower.Equal(o.upper) && !t.Before(o.upper):
		return 1, true
	}
	return 0, true
}

const day = 24 * time.Hour

// inSet holds the values of an "in" condition: strings in a set, so that
// a long list costs one lookup per string value; numbers, booleans and
// dates (which compare by range) in a list.
type inSet struct {
	strings map[string]struct{}
	others  []operand
}

func newInSet(n int) *inSet { return &inSet{strings: make(map[string]struct{}, n)} }

func (s *inSet) add(o operand) {
	if o.kind == opString {
		s.strings[o.s] = struct{}{}
	}
	if o.kind != opString || o.date {
		s.others = append(s.others, o)
	}
}

// has reports whether val equals one of the values (for a list, whether
// one of its elements does), as operand.equal decides.
func (s *inSet) has(val any) bool {
	switch x := val.(type) {
	case string:
		_, ok := s.strings[x]
		return ok
	case []string:
		for _, e := range x {
			if _, ok := s.strings[e]; ok {
				return true
			}
		}
		return false
	}
	for _, o := range s.others {
		if o.equal(val) {
			return true
		}
	}
	return false
}

// compileCondition builds the matcher of a {"field", "op", ...} node.
func compileCondition(r Rule, path string) (compiled, error) {
	ref, err := parseField(r.Field, path)
	if err != nil {
		return compiled{}, err
	}
	noValue := func() error {
		if len(r.Value) != 0 {
			return &fault.ValidationError{Field: path + ".value", Message: fmt.Sprintf("op %q takes no value", r.Op)}
		}
		return nil
	}
	if r.Days != 0 && r.Op != "within_last" && r.Op != "before_last" {
		return compiled{}, &fault.ValidationError{Field: path + ".days", Message: fmt.Sprintf("op %q takes no days", r.Op)}
	}
	switch r.Op {
	case "exists", "missing":
		if err := noValue(); err != nil {
			return compiled{}, err
		}
		want := r.Op == "exists"
		return compiled{match: func(v *view, _ time.Time) bool {
			_, ok := v.get(ref)
			return ok == want
		}}, nil
	case "eq", "ne":
		o, err := parseOperand(r.Value, path+".value")
		if err != nil {
			return compiled{}, err
		}
		want := r.Op == "eq"
		return compiled{match: func(v *view, _ time.Time) bool {
			val, ok := v.get(ref)
			return (ok && o.equal(val)) == want
		}}, nil
	case "in":
		var vals []any
		if err := json.Unmarshal(r.Value, &vals); err != nil || len(vals) == 0 {
			return compiled{}, &fault.ValidationError{Field: path + ".value", Message: `op "in" needs a non-empty array of values`}
		}
		if len(vals) > MaxInValues {
			return compiled{}, &fault.ValidationError{Field: path + ".value", Message: fmt.Sprintf(`op "in" takes at most %d values, got %d`, MaxInValues, len(vals))}
		}
		set := newInSet(len(vals))
		for i, x := range vals {
			o, err := scalarOperand(x, fmt.Sprintf("%s.value[%d]", path, i))
			if err != nil {
				return compiled{}, err
			}
			set.add(o)
		}
		return compiled{match: func(v *view, _ time.Time) bool {
			val, ok := v.get(ref)
			return ok && set.has(val)
		}}, nil
	case "contains", "prefix":
		var s string
		if err := json.Unmarshal(r.Value, &s); err != nil || s == "" {
			return compiled{}, &fault.ValidationError{Field: path + ".value", Message: fmt.Sprintf("op %q needs a non-empty string", r.Op)}
		}
		if strings.ContainsRune(s, 0) {
			return compiled{}, &fault.ValidationError{Field: path + ".value", Message: "holds a NUL character"}
		}
		test := strings.Contains
		if r.Op == "prefix" {
			test = strings.HasPrefix
		}
		isContains := r.Op == "contains"
		return compiled{match: func(v *view, _ time.Time) bool {
			val, _ := v.get(ref)
			switch x := val.(type) {
			case string:
				return test(x, s)
			case []string:
				for _, e := range x {
					if (isContains && e == s) || (!isContains && strings.HasPrefix(e, s)) {
						return true
					}
				}
			}
			return false
		}}, nil
	case "gt", "gte", "lt", "lte":
		o, err := parseOperand(r.Value, path+".value")
		if err != nil {
			return compiled{}, err
		}
		if o.kind != opNumber && !o.date {
			return compiled{}, &fault.ValidationError{Field: path + ".value", Message: fmt.Sprintf("op %q needs a number or a date (2006-01-02 or RFC 3339)", r.Op)}
		}
		var ok func(c int) bool
		switch r.Op {
		case "gt":
			ok = func(c int) bool { return c > 0 }
		case "gte":
			ok = func(c int) bool { return c >= 0 }
		case "lt":
			ok = func(c int) bool { return c < 0 }
		default:
			ok = func(c int) bool { return c <= 0 }
		}
		return compiled{match: func(v *view, _ time.Time) bool {
			val, present := v.get(ref)
			if !present {
				return false
			}
			c, comparable := o.compare(val)
			return comparable && ok(c)
		}}, nil
	case "within_last", "before_last":
		if err := noValue(); err != nil {
			return compiled{}, err
		}
		if r.Days <= 0 || math.IsInf(r.Days, 0) || r.Days > 36500 {
			return compiled{}, &fault.ValidationError{Field: path + ".days", Message: fmt.Sprintf("op %q needs days > 0 (at most 36500)", r.Op)}
		}
		span := time.Duration(r.Days * float64(day))
		within := r.Op == "within_last"
		return compiled{relative: true, match: func(v *view, now time.Time) bool {
			val, present := v.get(ref)
			if !present {
				return false
			}
			t, isTime := asTime(val)
			if !isTime {
				return false
			}
			bound := now.Add(-span)
			if within {
				return !t.Before(bound)
			}
			return t.Before(bound)
		}}, nil
	case "":
		return compiled{}, &fault.ValidationError{Field: path + ".op", Message: "missing op"}
	}
	return compiled{}, &fault.ValidationError{Field: path + ".op", Message: fmt.Sprintf("unknown op %q", r.Op)}
}

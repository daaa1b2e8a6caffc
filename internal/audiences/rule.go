package audiences

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
)

// Rule is the JSON filter of a rule audience. A node is exactly one of:
//
//	{"and": [node, ...]}   every child matches; {"and": []} matches everyone
//	{"or":  [node, ...]}   at least one child matches (needs one child or more)
//	{"not": node}          the child does not match
//	{"field": F, "op": OP, "value": V}   a condition on one field
//	{"field": F, "op": "within_last" | "before_last", "days": N}
//
// F names a profile field: "first_seen", "last_seen", "id",
// "identities.<name>" (e.g. "identities.email", a list of values),
// "fields.<name>", or a bare "<name>" for fields.<name>.
//
// Operators:
//
//	eq, ne          V a string, number or boolean (a date string compares with
//	                date fields); on lists, eq means "some element equals";
//	                ne is exactly "not eq", so it matches a missing field
//	in              V a non-empty array; matches if eq matches one of them
//	exists, missing present and not empty (empty string, empty list), or not
//	contains        V a string: substring of a string field, element of a list
//	prefix          V a string: prefix of a string field or of an element
//	gt, gte, lt, lte  V a number (number fields) or a date "2006-01-02" or
//	                RFC 3339 timestamp (date fields)
//	within_last     the date field lies in the last N days (N > 0), or later
//	before_last     the date field lies before the last N days
//
// A condition on a missing field, or on a value of the wrong type, does not
// match (so "not" and "ne" of it do).
type Rule struct {
	And   []Rule          `json:"and,omitempty"`
	Or    []Rule          `json:"or,omitempty"`
	Not   *Rule           `json:"not,omitempty"`
	Field string          `json:"field,omitempty"`
	Op    string          `json:"op,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Days  float64         `json:"days,omitempty"`
}

// Rule limits: a rule is evaluated on every profile change of its account,
// so its size is bounded.
const (
	// MaxRuleDepth is the deepest nesting of nodes: a condition at the top
	// is at depth 1, each "and", "or" and "not" adds one.
	MaxRuleDepth = 32
	// MaxInValues is the most values of one "in" condition.
	MaxInValues = 10000
	// MaxFieldName is the longest field name of a condition, in bytes.
	MaxFieldName = 256
)

// matcher evaluates a compiled rule against a profile at time now.
type matcher func(v *view, now time.Time) bool

// compiled is a validated rule ready to run.
type compiled struct {
	match matcher
	// relative is true when the rule depends on the current time, so that
	// its audience must be re-evaluated periodically.
	relative bool
}

// ParseRule decodes and validates a rule. Errors are *fault.ValidationError naming
// the bad node.
func ParseRule(raw json.RawMessage) (Rule, error) {
	var r Rule
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return r, &fault.ValidationError{Field: "rule", Message: "a rule audience needs a rule"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, &fault.ValidationError{Field: "rule", Message: "not a valid rule: " + err.Error()}
	}
	if _, err := compileRule(r, "rule"); err != nil {
		return r, err
	}
	return r, nil
}

// compileRule validates r (at path) and builds its matcher.
func compileRule(r Rule, path string) (compiled, error) {
	return compileNode(r, path, 1)
}

// compileNode compiles r, a node at depth.
func compileNode(r Rule, path string, depth int) (compiled, error) {
	if depth > MaxRuleDepth {
		return compiled{}, &fault.ValidationError{Field: path, Message: fmt.Sprintf("rule nested deeper than %d levels", MaxRuleDepth)}
	}
	kinds := 0
	if r.And != nil {
		kinds++
	}
	if r.Or != nil {
		kinds++
	}
	if r.Not != nil {
		kinds++
	}
	if r.Field != "" || r.Op != "" {
		kinds++
	}
	switch {
	case kinds == 0:
		return compiled{}, &fault.ValidationError{Field: path, Message: `empty node: want one of "and", "or", "not" or "field"+"op"`}
	case kinds > 1:
		return compiled{}, &fault.ValidationError{Field: path, Message: `a node has exactly one of "and", "or", "not" or "field"+"op"`}
	}
	switch {
	case r.And != nil || r.Or != nil:
		kids, name := r.And, "and"
		if r.Or != nil {
			kids, name = r.Or, "or"
			if len(kids) == 0 {
				return compiled{}, &fault.ValidationError{Field: path + ".or", Message: "needs at least one condition"}
			}
		}
		ms := make([]matcher, 0, len(kids))
		rel := false
		for i, k := range kids {
			c, err := compileNode(k, fmt.Sprintf("%s.%s[%d]", path, name, i), depth+1)
			if err != nil {
				return compiled{}, err
			}
			ms = append(ms, c.match)
			rel = rel || c.relative
		}
		if name == "and" {
			return compiled{relative: rel, match: func(v *view, now time.Time) bool {
				for _, m := range ms {
					if !m(v, now) {
						return false
					}
				}
				return true
			}}, nil
		}
		return compiled{relative: rel, match: func(v *view, now time.Time) bool {
			for _, m := range ms {
				if m(v, now) {
					return true
				}
			}
			return false
		}}, nil
	case r.Not != nil:
		c, err := compileNode(*r.Not, path+".not", depth+1)
		if err != nil {
			return compiled{}, err
		}
		return compiled{relative: c.relative, match: func(v *view, now time.Time) bool { return !c.match(v, now) }}, nil
	}
	return compileCondition(r, path)
}

// fieldRef is a parsed field name.
type fieldRef struct {
	kind int // refField, refIdentity, refFirstSeen, refLastSeen, refID
	name string
}

const (
	refField = iota
	refIdentity
	refFirstSeen
	refLastSeen
	refID
)

func parseField(f, path string) (fieldRef, error) {
	switch {
	case len(f) > MaxFieldName:
		return fieldRef{}, &fault.ValidationError{Field: path + ".field", Message: fmt.Sprintf("field name of %d bytes; at most %d", len(f), MaxFieldName)}
	case strings.ContainsRune(f, 0):
		return fieldRef{}, &fault.ValidationError{Field: path + ".field", Message: "field name holds a NUL character"}
	case f == "":
		return fieldRef{}, &fault.ValidationError{Field: path + ".field", Message: "missing field name"}
	case f == "first_seen":
		return fieldRef{kind: refFirstSeen}, nil
	case f == "last_seen":
		return fieldRef{kind: refLastSeen}, nil
	case f == "id":
		return fieldRef{kind: refID}, nil
	case strings.HasPrefix(f, "identities."):
		n := strings.TrimPrefix(f, "identities.")
		if n == "" {
			return fieldRef{}, &fault.ValidationError{Field: path + ".field", Message: "identities. needs a name"}
		}
		return fieldRef{kind: refIdentity, name: n}, nil
	case strings.HasPrefix(f, "fields."):
		n := strings.TrimPrefix(f, "fields.")
		if n == "" {
			return fieldRef{}, &fault.ValidationError{Field: path + ".field", Message: "fields. needs a name"}
		}
		return fieldRef{kind: refField, name: n}, nil
	}
	return fieldRef{kind: refField, name: f}, nil
}

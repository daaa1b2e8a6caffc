package audiences

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
)

// nestedNot is a rule of depth nots around one condition (depth+1 levels).
func nestedNot(depth int) string {
	return strings.Repeat(`{"not":`, depth) + `{"field":"country","op":"eq","value":"FR"}` + strings.Repeat(`}`, depth)
}

// inList is an "in" condition on country with n values, "FR" last.
func inList(n int) string {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf("%q", fmt.Sprintf("C%d", i))
	}
	vals[n-1] = `"FR"`
	return `{"field":"country","op":"in","value":[` + strings.Join(vals, ",") + `]}`
}

// TestRuleLimits: depth, "in" lists, field names and NUL characters are
// bounded, each refused with the path of the bad node.
func TestRuleLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("f", MaxFieldName)
	cases := []struct {
		name, rule, field string // field "" when accepted
	}{
		{"depth 32", nestedNot(MaxRuleDepth - 1), ""},
		{"depth 33", nestedNot(MaxRuleDepth), "rule" + strings.Repeat(".not", MaxRuleDepth)},
		{"depth 9000", nestedNot(9000), "rule" + strings.Repeat(".not", MaxRuleDepth)},
		{"and nesting", strings.Repeat(`{"and":[`, MaxRuleDepth) + `{"field":"a","op":"exists"}` + strings.Repeat(`]}`, MaxRuleDepth), "rule" + strings.Repeat(".and[0]", MaxRuleDepth)},
		{"in 10000", inList(MaxInValues), ""},
		{"in 10001", inList(MaxInValues + 1), "rule.value"},
		{"in 60000", inList(60000), "rule.value"},
		{"field 256", `{"field":"` + long + `","op":"exists"}`, ""},
		{"field 257", `{"field":"` + long + `f","op":"exists"}`, "rule.field"},
		{"field 100000", `{"field":"` + strings.Repeat("x", 100000) + `","op":"exists"}`, "rule.field"},
		{"NUL in field", `{"field":"coun\u0000try","op":"exists"}`, "rule.field"},
		{"NUL in fields. name", `{"field":"fields.\u0000","op":"exists"}`, "rule.field"},
		{"NUL in eq", `{"field":"country","op":"eq","value":"F\u0000R"}`, "rule.value"},
		{"NUL in in", `{"and":[{"field":"country","op":"in","value":["FR","x\u0000"]}]}`, "rule.and[0].value[1]"},
		{"NUL in contains", `{"field":"name","op":"contains","value":"\u0000"}`, "rule.value"},
		{"NUL in prefix", `{"field":"name","op":"prefix","value":"A\u0000"}`, "rule.value"},
	}
	for _, c := range cases {
		_, err := ParseRule(json.RawMessage(c.rule))
		var ve *fault.ValidationError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field):
			t.Errorf("%s: %v, want a fault.ValidationError on %s", c.name, err, c.field)
		}
	}
}

// TestInListMatchesLikeEq: the set behind a long "in" matches strings,
// list elements, numbers, booleans and dates as eq does.
func TestInListMatchesLikeEq(t *testing.T) {
	t.Parallel()
	p := ruleProfile()
	cases := []struct {
		rule string
		want bool
	}{
		{inList(MaxInValues), true},
		{`{"field":"country","op":"in","value":["DE","IT"]}`, false},
		{`{"field":"tags","op":"in","value":["x","beta"]}`, true},
		{`{"field":"score","op":"in","value":["42",42]}`, true},
		{`{"field":"score","op":"in","value":["42"]}`, false},
		{`{"field":"vip","op":"in","value":[false,true]}`, true},
		{`{"field":"birthday","op":"in","value":["2001-01-01","1990-05-01"]}`, true},
		{`{"field":"missing","op":"in","value":["FR"]}`, false},
	}
	for _, c := range cases {
		r, err := ParseRule(json.RawMessage(c.rule))
		if err != nil {
			t.Fatalf("%.80s: %v", c.rule, err)
		}
		m, err := compileRule(r, "rule")
		if err != nil {
			t.Fatal(err)
		}
		if got := m.match(&view{p}, ruleNow); got != c.want {
			t.Errorf("%.80s: %v, want %v", c.rule, got, c.want)
		}
	}
}

// BenchmarkInList: one evaluation of a 10,000-value "in" condition.
func BenchmarkInList(b *testing.B) {
	r, err := ParseRule(json.RawMessage(inList(MaxInValues)))
	if err != nil {
		b.Fatal(err)
	}
	m, _ := compileRule(r, "rule")
	v := &view{ruleProfile()}
	now := time.Now()
	for b.Loop() {
		m.match(v, now)
	}
}

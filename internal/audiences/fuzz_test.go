package audiences

import (
	"encoding/json"
	"strings"
	"testing"
)

// ruleDepth is the nesting depth of a decoded rule (a condition is 1).
func ruleDepth(r Rule) int {
	d := 0
	for _, k := range r.And {
		d = max(d, ruleDepth(k))
	}
	for _, k := range r.Or {
		d = max(d, ruleDepth(k))
	}
	if r.Not != nil {
		d = max(d, ruleDepth(*r.Not))
	}
	return d + 1
}

// FuzzParseRule: no input panics the rule parser or a compiled rule, and
// every rule it accepts keeps within the limits.
func FuzzParseRule(f *testing.F) {
	for _, seed := range []string{
		`{"field":"country","op":"eq","value":"FR"}`,
		`{"and":[]}`,
		`{"or":[{"field":"identities.email","op":"exists"},{"field":"score","op":"gte","value":10}]}`,
		`{"not":{"field":"tags","op":"in","value":["a","b",3,true,"2026-01-01"]}}`,
		`{"field":"first_seen","op":"within_last","days":7}`,
		`{"field":"birthday","op":"lt","value":"2000-01-01T00:00:00Z"}`,
		`{"field":"name","op":"prefix","value":"Al"}`,
		`{"field":"fields.x","op":"contains","value":"\u0000"}`,
		nestedNot(MaxRuleDepth),
		`{"field":"a","op":"eq"}`, `{"and":[{}]}`, `null`, `[]`, `{"days":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	p := ruleProfile()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseRule(json.RawMessage(raw))
		if err != nil {
			return
		}
		if d := ruleDepth(r); d > MaxRuleDepth {
			t.Fatalf("accepted a rule %d levels deep", d)
		}
		c, err := compileRule(r, "rule")
		if err != nil {
			t.Fatalf("ParseRule accepted a rule that does not compile: %v", err)
		}
		c.match(&view{p}, ruleNow)
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), `\u0000`) {
			t.Fatalf("accepted a NUL character: %s", b)
		}
	})
}

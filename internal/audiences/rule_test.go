package audiences

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
)

var ruleNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func ruleProfile() *profiles.Profile {
	return &profiles.Profile{
		ID: "p1",
		Fields: map[string]any{
			"country":   "FR",
			"name":      "Alice Martin",
			"score":     42.0,
			"vip":       true,
			"tags":      []string{"vip", "beta"},
			"birthday":  time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC),
			"signup_at": time.Date(2026, 6, 1, 8, 30, 0, 0, time.UTC),
			"empty":     "",
		},
		Identities: map[string][]string{"email": {"alice@example.com"}},
		FirstSeen:  ruleNow.Add(-30 * day),
		LastSeen:   ruleNow.Add(-3 * day),
	}
}

func TestRuleOperators(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		rule string
		want bool
	}{
		{"eq string", `{"field":"country","op":"eq","value":"FR"}`, true},
		{"eq string other", `{"field":"country","op":"eq","value":"DE"}`, false},
		{"eq number", `{"field":"score","op":"eq","value":42}`, true},
		{"eq number type mismatch", `{"field":"score","op":"eq","value":"42"}`, false},
		{"eq bool", `{"field":"vip","op":"eq","value":true}`, true},
		{"eq bool other", `{"field":"vip","op":"eq","value":false}`, false},
		{"eq list element", `{"field":"tags","op":"eq","value":"beta"}`, true},
		{"eq date whole day", `{"field":"birthday","op":"eq","value":"1990-05-01"}`, true},
		{"eq date other day", `{"field":"birthday","op":"eq","value":"1990-05-02"}`, false},
		{"eq missing", `{"field":"nope","op":"eq","value":"x"}`, false},
		{"ne other", `{"field":"country","op":"ne","value":"DE"}`, true},
		{"ne same", `{"field":"country","op":"ne","value":"FR"}`, false},
		{"ne missing", `{"field":"nope","op":"ne","value":"x"}`, true},
		{"in", `{"field":"country","op":"in","value":["DE","FR"]}`, true},
		{"in none", `{"field":"country","op":"in","value":["DE","US"]}`, false},
		{"exists", `{"field":"country","op":"exists"}`, true},
		{"exists missing", `{"field":"nope","op":"exists"}`, false},
		{"exists empty string", `{"field":"empty","op":"exists"}`, false},
		{"missing", `{"field":"nope","op":"missing"}`, true},
		{"missing present", `{"field":"country","op":"missing"}`, false},
		{"contains substring", `{"field":"name","op":"contains","value":"Mart"}`, true},
		{"contains no substring", `{"field":"name","op":"contains","value":"Bob"}`, false},
		{"contains list", `{"field":"tags","op":"contains","value":"vip"}`, true},
		{"contains list no", `{"field":"tags","op":"contains","value":"vi"}`, false},
		{"prefix", `{"field":"identities.email","op":"prefix","value":"alice@"}`, true},
		{"prefix no", `{"field":"identities.email","op":"prefix","value":"bob@"}`, false},
		{"prefix string field", `{"field":"fields.name","op":"prefix","value":"Ali"}`, true},
		{"gt number", `{"field":"score","op":"gt","value":41}`, true},
		{"gt number equal", `{"field":"score","op":"gt","value":42}`, false},
		{"gte number", `{"field":"score","op":"gte","value":42}`, true},
		{"gte number above", `{"field":"score","op":"gte","value":42.5}`, false},
		{"lt number", `{"field":"score","op":"lt","value":43}`, true},
		{"lt number equal", `{"field":"score","op":"lt","value":42}`, false},
		{"lte number", `{"field":"score","op":"lte","value":42}`, true},
		{"lte number below", `{"field":"score","op":"lte","value":41}`, false},
		{"gt date", `{"field":"birthday","op":"gt","value":"1990-04-30"}`, true},
		{"gt date same day", `{"field":"birthday","op":"gt","value":"1990-05-01"}`, false},
		{"gte date same day", `{"field":"birthday","op":"gte","value":"1990-05-01"}`, true},
		{"gte date later", `{"field":"birthday","op":"gte","value":"1990-05-02"}`, false},
		{"lt timestamp", `{"field":"signup_at","op":"lt","value":"2026-06-01T09:00:00Z"}`, true},
		{"lt timestamp earlier", `{"field":"signup_at","op":"lt","value":"2026-06-01T08:00:00Z"}`, false},
		{"lte date same day", `{"field":"signup_at","op":"lte","value":"2026-06-01"}`, true},
		{"lte date before", `{"field":"signup_at","op":"lte","value":"2026-05-31"}`, false},
		{"gt on a string field", `{"field":"country","op":"gt","value":1}`, false},
		{"first_seen gte date", `{"field":"first_seen","op":"gte","value":"2026-05-01"}`, true},
		{"first_seen lt date", `{"field":"first_seen","op":"lt","value":"2026-05-01"}`, false},
		{"within_last", `{"field":"last_seen","op":"within_last","days":7}`, true},
		{"within_last too short", `{"field":"last_seen","op":"within_last","days":2}`, false},
		{"before_last", `{"field":"last_seen","op":"before_last","days":2}`, true},
		{"before_last too long", `{"field":"last_seen","op":"before_last","days":7}`, false},
		{"within_last missing", `{"field":"nope","op":"within_last","days":7}`, false},
		{"within_last date field", `{"field":"signup_at","op":"within_last","days":30}`, true},
		{"identities eq", `{"field":"identities.email","op":"eq","value":"alice@example.com"}`, true},
		{"identities exists other", `{"field":"identities.braze_id","op":"exists"}`, false},
		{"id eq", `{"field":"id","op":"eq","value":"p1"}`, true},
		{"and all", `{"and":[{"field":"country","op":"eq","value":"FR"},{"field":"vip","op":"eq","value":true}]}`, true},
		{"and one fails", `{"and":[{"field":"country","op":"eq","value":"FR"},{"field":"vip","op":"eq","value":false}]}`, false},
		{"and empty", `{"and":[]}`, true},
		{"or one", `{"or":[{"field":"country","op":"eq","value":"DE"},{"field":"vip","op":"eq","value":true}]}`, true},
		{"or none", `{"or":[{"field":"country","op":"eq","value":"DE"},{"field":"vip","op":"eq","value":false}]}`, false},
		{"not", `{"not":{"field":"country","op":"eq","value":"DE"}}`, true},
		{"not matching", `{"not":{"field":"country","op":"eq","value":"FR"}}`, false},
	}
	p := ruleProfile()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRule(json.RawMessage(tc.rule))
			if err != nil {
				t.Fatalf("ParseRule(%s): %v", tc.rule, err)
			}
			c, err := compileRule(r, "rule")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.match(&view{p: p}, ruleNow); got != tc.want {
				t.Errorf("%s on the test profile = %v, want %v", tc.rule, got, tc.want)
			}
		})
	}
}

func TestRuleRelativeFlag(t *testing.T) {
	t.Parallel()
	for rule, want := range map[string]bool{
		`{"field":"x","op":"eq","value":1}`:                                                      false,
		`{"not":{"and":[{"field":"x","op":"before_last","days":1}]}}`:                            true,
		`{"or":[{"field":"x","op":"exists"},{"field":"last_seen","op":"within_last","days":3}]}`: true,
	} {
		r, err := ParseRule(json.RawMessage(rule))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := compileRule(r, "rule")
		if c.relative != want {
			t.Errorf("%s relative = %v, want %v", rule, c.relative, want)
		}
	}
}

func TestRuleValidationNamesPath(t *testing.T) {
	t.Parallel()
	cases := []struct{ rule, path string }{
		{`{"and":[{"field":"x","op":"eq","value":1},{"field":"y","op":"gt","value":"abc"}]}`, "rule.and[1].value"},
		{`{"or":[]}`, "rule.or"},
		{`{"not":{"field":"x","op":"bogus"}}`, "rule.not.op"},
		{`{"field":"x","op":"within_last"}`, "rule.days"},
		{`{"field":"x","op":"within_last","days":-1}`, "rule.days"},
		{`{"field":"x","op":"eq","value":1,"days":3}`, "rule.days"},
		{`{"field":"x","op":"in","value":[]}`, "rule.value"},
		{`{"field":"x","op":"in","value":[1,{"a":1}]}`, "rule.value[1]"},
		{`{"field":"x","op":"eq"}`, "rule.value"},
		{`{"field":"x","op":"eq","value":null}`, "rule.value"},
		{`{"field":"x","op":"exists","value":1}`, "rule.value"},
		{`{"field":"x","op":"contains","value":3}`, "rule.value"},
		{`{"field":"x"}`, "rule.op"},
		{`{"op":"eq","value":1}`, "rule.field"},
		{`{"field":"identities.","op":"exists"}`, "rule.field"},
		{`{}`, "rule"},
		{`{"and":[],"field":"x","op":"exists"}`, "rule"},
		{`{"feild":"x","op":"exists"}`, "rule"},
		{`[1,2]`, "rule"},
		{``, "rule"},
		{`{"or":[{"and":[{"not":{}}]}]}`, "rule.or[0].and[0].not"},
	}
	for _, tc := range cases {
		_, err := ParseRule(json.RawMessage(tc.rule))
		var re *fault.ValidationError
		if !errors.As(err, &re) {
			t.Errorf("ParseRule(%s) = %v, want a *fault.ValidationError", tc.rule, err)
			continue
		}
		if re.Field != tc.path {
			t.Errorf("ParseRule(%s) path %q (%v), want %q", tc.rule, re.Field, err, tc.path)
		}
		if !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("ParseRule(%s) error does not wrap ErrInvalid", tc.rule)
		}
	}
}

package export

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
)

func mustConfig(t *testing.T, m map[string]any) Config {
	t.Helper()
	c, err := ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// objectJSON is what buildUser sends for the user, as Braze reads it
// ("" when nothing is sent), and the state it remembers.
func objectJSON(t *testing.T, u *user) string {
	t.Helper()
	if u.object == nil {
		return ""
	}
	b, err := json.Marshal(u.object)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuildUserModes follows one user through both attribute modes: what
// each object writes, that an unchanged user costs nothing, and that a
// switch of mode or prefix clears the representation Braze last accepted.
func TestBuildUserModes(t *testing.T) {
	t.Parallel()
	p := &profiles.Profile{Fields: map[string]any{"braze_id": "u1"}}
	arr := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}})
	boo := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}, "attribute_mode": "boolean"})
	booX := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}, "attribute_mode": "boolean", "attribute_prefix": "x_"})
	booA := mustConfig(t, map[string]any{"audiences": []any{"a"}, "attribute_mode": "boolean"})
	eo := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}, "attribute_mode": "boolean", "update_existing_only": true})
	steps := []struct {
		name     string
		cfg      Config
		p        *profiles.Profile
		in       []string
		want     string
		points   int
		complete bool
	}{
		{"array: first send", arr, p, []string{"a"}, `{"external_id":"u1","lytics_segments":{"add":["a"],"remove":["b"]}}`, 1, false},
		{"array: unchanged", arr, p, []string{"a"}, "", 0, true},
		{"array to boolean: the array's slugs removed", boo, p, []string{"a"}, `{"external_id":"u1","lytics_segments":{"remove":["a","b"]},"lytics_a":true}`, 2, false},
		{"boolean: unchanged", boo, p, []string{"a"}, "", 0, true},
		{"boolean: enter b", boo, p, []string{"a", "b"}, `{"external_id":"u1","lytics_a":true,"lytics_b":true}`, 2, false},
		{"boolean: leave a", boo, p, []string{"b"}, `{"external_id":"u1","lytics_a":false,"lytics_b":true}`, 2, false},
		{"boolean: unchanged after leaving", boo, p, []string{"b"}, "", 0, true},
		{"boolean: leave b, a stays false unwritten", boo, p, nil, `{"external_id":"u1","lytics_b":false}`, 1, false},
		{"boolean: enter a again", boo, p, []string{"a"}, `{"external_id":"u1","lytics_a":true}`, 1, false},
		{"boolean: new prefix, old attributes null", booX, p, []string{"a"}, `{"external_id":"u1","lytics_a":null,"lytics_b":null,"x_a":true}`, 3, false},
		{"boolean to array: booleans null", arr, p, []string{"a"}, `{"external_id":"u1","lytics_segments":{"add":["a"],"remove":["b"]},"x_a":null}`, 2, false},
		{"array to boolean again", boo, p, []string{"b"}, `{"external_id":"u1","lytics_segments":{"remove":["a","b"]},"lytics_a":false,"lytics_b":true}`, 3, false},
		{"boolean: b dropped from the job, its attribute null", booA, p, nil, `{"external_id":"u1","lytics_b":null}`, 1, false},
		{"boolean: update_existing_only", eo, p, []string{"a"}, `{"external_id":"u1","lytics_a":true,"_update_existing_only":true}`, 1, false},
		{"boolean: deleted profile, attributes null", boo, nil, nil, `{"external_id":"u1","lytics_a":null}`, 1, false},
	}
	prev := ""
	for _, s := range steps {
		u := buildUserOf(s.cfg, nil, "p1", s.p, s.in, prev)
		if got := objectJSON(t, u); got != s.want || u.complete != s.complete || u.dataPoints != s.points {
			t.Fatalf("%s:\n got %s (complete %v, %d data points)\nwant %s (complete %v, %d data points)\nprevious state %q", s.name, got, u.complete, u.dataPoints, s.want, s.complete, s.points, prev)
		}
		if u.object != nil {
			prev = u.state // Braze accepted it
		}
	}
	if prev != "" {
		t.Fatalf("a deleted profile's state is kept: %q", prev)
	}
}

// TestBuildUserBooleanFirstSendWithoutMembership: a user never sent and in
// none of the job's audiences gets nothing in boolean mode (an object of
// only an identifier would create an empty Braze user).
func TestBuildUserBooleanFirstSendWithoutMembership(t *testing.T) {
	t.Parallel()
	boo := mustConfig(t, map[string]any{"audiences": []any{"a"}, "attribute_mode": "boolean"})
	u := buildUserOf(boo, nil, "p1", &profiles.Profile{Fields: map[string]any{"braze_id": "u1"}}, []string{"other"}, "")
	if u.object != nil || !u.complete {
		t.Fatalf("sent %s", objectJSON(t, u))
	}
}

func TestParseConfigModes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"audiences": []any{"a"}, "attribute_mode": "bits"}, "config.attribute_mode"},
		{map[string]any{"audiences": []any{"a"}, "attribute_prefix": "bad/"}, "config.attribute_prefix"},
		{map[string]any{"audiences": []any{"a"}, "update_existing_only": "yes"}, "config.update_existing_only"},
		{map[string]any{"audiences": []any{"segments"}, "attribute_mode": "boolean", "attribute_prefix": "lytics_", "attribute": "lytics_segments"}, "config.audiences[0]"},
	} {
		_, err := ParseConfig(c.cfg)
		if err == nil || !containsField(err, c.field) {
			t.Errorf("%v: err = %v, want one naming %s", c.cfg, err, c.field)
		}
	}
	c := mustConfig(t, map[string]any{"audiences": []any{"a"}})
	if c.Mode != ModeArray || c.AttributePrefix != "lytics_" || c.UpdateExistingOnly {
		t.Fatalf("defaults: %+v", c)
	}
}

func containsField(err error, field string) bool {
	var ve *fault.ValidationError
	return errors.As(err, &ve) && ve.Field == field
}

// TestBuildUserUncertainState: after a batch that lost its lease was
// accepted, Braze may hold what it wrote or what was recorded before; the
// next object clears both and writes the job's state in full.
func TestBuildUserUncertainState(t *testing.T) {
	t.Parallel()
	p := &profiles.Profile{Fields: map[string]any{"braze_id": "u1"}}
	arr := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}})
	boo := mustConfig(t, map[string]any{"audiences": []any{"a", "b"}, "attribute_mode": "boolean"})
	boolA := sentState{ident: "external_id=u1", in: []string{"a"}, boolean: true, prefix: "lytics_"}.String()
	boolAoutB := sentState{ident: "external_id=u1", in: []string{"a"}, boolean: true, prefix: "lytics_", out: []string{"b"}}.String()
	arrB := sentState{ident: "external_id=u1", in: []string{"b"}}.String()
	for _, c := range []struct {
		name string
		cfg  Config
		in   []string
		prev string
		want string
	}{
		{"array mode, a boolean batch lost its lease", arr, []string{"b"}, uncertainMark + boolA + stateAltSep + arrB,
			`{"external_id":"u1","lytics_segments":{"add":["b"],"remove":["a"]},"lytics_a":null}`},
		{"boolean mode, an array batch lost its lease", boo, nil, uncertainMark + arrB + stateAltSep + boolAoutB,
			`{"external_id":"u1","lytics_segments":{"remove":["a","b"]},"lytics_a":false,"lytics_b":false}`},
		{"boolean mode, a boolean batch lost its lease", boo, []string{"a"}, uncertainMark + boolAoutB + stateAltSep + boolA,
			`{"external_id":"u1","lytics_a":true,"lytics_b":false}`},
	} {
		u := buildUserOf(c.cfg, nil, "p1", p, c.in, c.prev)
		if got := objectJSON(t, u); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if _, certain := parseStates(u.state); !certain {
			t.Errorf("%s: the new state %q is not certain", c.name, u.state)
		}
	}
}

// buildUserOf is buildUser for profile p (nil: gone), as plan calls it.
func buildUserOf(cfg Config, retired []string, id string, p *profiles.Profile, memberOf []string, prev string) *user {
	value := ""
	if p != nil {
		value = identValue(p, cfg.IdentifierField)
	}
	return buildUser(cfg, retired, id, p == nil, value, memberOf, prev)
}

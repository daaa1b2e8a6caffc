package braze

import (
	"encoding/json"
	"testing"
)

func TestObjectJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		obj  Object
		want string
	}{
		{"external_id add and remove", Segments(Identifier{Kind: ExternalID, Value: "u1"}, "", []string{"a", "b"}, []string{"c"}),
			`{"external_id":"u1","lytics_segments":{"add":["a","b"],"remove":["c"]}}`},
		{"braze_id add only, custom attribute", Segments(Identifier{Kind: BrazeID, Value: "b1"}, "segs", []string{"a"}, nil),
			`{"braze_id":"b1","segs":{"add":["a"]}}`},
		{"email remove only", Segments(Identifier{Kind: Email, Value: "a@x.io"}, "", nil, []string{"z"}),
			`{"email":"a@x.io","lytics_segments":{"remove":["z"]}}`},
		{"phone nothing to change", Segments(Identifier{Kind: Phone, Value: "+1555"}, "", nil, nil),
			`{"phone":"+1555"}`},
		{"user alias", Segments(Identifier{Kind: UserAlias, Value: "n1", AliasLabel: "lytics"}, "", []string{"a"}, nil),
			`{"user_alias":{"alias_name":"n1","alias_label":"lytics"},"lytics_segments":{"add":["a"]}}`},
		{"escaping and fields", Object{ID: Identifier{Kind: ExternalID, Value: "q\"<\n"}, Add: []string{"é"}, Fields: map[string]any{"z": 1, "a": []int{1}}},
			`{"external_id":"q\"\u003c\n","lytics_segments":{"add":["é"]},"a":[1],"z":1}`},
		{"booleans, null and update existing only", Object{ID: Identifier{Kind: ExternalID, Value: "u1"}, Remove: []string{"a"}, Fields: map[string]any{"lytics_a": true, "lytics_b": false, "lytics_c": nil}, UpdateExistingOnly: true},
			`{"external_id":"u1","lytics_segments":{"remove":["a"]},"lytics_a":true,"lytics_b":false,"lytics_c":null,"_update_existing_only":true}`},
	} {
		got, err := json.Marshal(c.obj)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", c.name, got)
		}
	}
}

func TestObjectValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []Object{
		{ID: Identifier{Kind: "nope", Value: "x"}},
		{ID: Identifier{Kind: ExternalID}},
		{ID: Identifier{Kind: UserAlias, Value: "n"}},
		{ID: Identifier{Kind: ExternalID, Value: "u"}, Fields: map[string]any{"lytics_segments": 1}},
		{ID: Identifier{Kind: ExternalID, Value: "u"}, Fields: map[string]any{"external_id": "v"}},
		{ID: Identifier{Kind: ExternalID, Value: "u"}, Fields: map[string]any{"_update_existing_only": true}},
	} {
		if _, err := json.Marshal(o); err == nil {
			t.Errorf("%+v encoded without error", o)
		}
	}
}

func TestParseIdentifierKind(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]IdentifierKind{"external_id": ExternalID, " Braze_ID ": BrazeID, "alias": UserAlias, "user_alias": UserAlias, "EMAIL": Email, "phone": Phone} {
		if got, err := ParseIdentifierKind(in); err != nil || got != want {
			t.Errorf("ParseIdentifierKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseIdentifierKind("twitter"); err == nil {
		t.Error("unknown kind accepted")
	}
}

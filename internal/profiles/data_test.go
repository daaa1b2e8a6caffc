package profiles

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestAppendDataIsJSON(t *testing.T) {
	t.Parallel()
	fields := []storedField{
		{name: "plain", code: 's', text: "Ann"},
		{name: "quote\"back\\slash", code: 's', text: "\"q\" \\ /"},
		{name: "controls", code: 's', text: "\n\r\t\x00\x1f"},
		{name: "unicode", code: 's', text: "Åsa 東京 🎉"},
		{name: "bad utf8 \xff", code: 's', text: "\xff\xfeok"},
		{name: "number", code: 'n', text: "12.5"},
		{name: "pre-encoded", code: 's', text: "x", key: string(appendJSONKey(nil, "pre-encoded"))},
	}
	data := string(appendData(nil, fields))
	var got map[string]string
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatalf("appendData is not JSON: %v: %s", err, data)
	}
	for _, f := range fields {
		name, want := f.name, "|"+string(f.code)+f.text
		if f.name == "bad utf8 \xff" {
			name, want = "bad utf8 \ufffd", "|s\ufffd\ufffdok"
		}
		if got[name] != want {
			t.Errorf("%q = %q, want %q", name, got[name], want)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("decoded %d fields, want %d", len(got), len(fields))
	}
	if d := string(appendData(nil, nil)); d != "{}" {
		t.Errorf("empty = %s", d)
	}
}

func TestPreparedBlobIsTheStoredProfile(t *testing.T) {
	t.Parallel()
	pr := compile(builtinMapping(BrazeUsersStream)).newPreparer(time.Unix(1700000000, 0), true)
	cols := []string{"Braze ID", "email", "first_name", "user_id"}
	for _, vals := range [][]string{
		{"b1", "A@x.io", "Ann", "u1"},
		{"", "", "Bo \"q\"\n", "u2"},
	} {
		p, err := pr.prepare(Record{Columns: cols, Values: vals})
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeProfile(p.ts, p.ts, p.ts, p.ids, p.data); p.blob != want {
			t.Errorf("blob %q, want %q", p.blob, want)
		}
		sp, ok := decodeStored(p.blob)
		if !ok || sp.fs != p.ts || sp.ls != p.ts || sp.base != p.ts || !slices.Equal(sp.ids, p.ids) || sp.data != p.data {
			t.Errorf("blob %q decodes to %+v %v", p.blob, sp, ok)
		}
	}
}

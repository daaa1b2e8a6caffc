package profiles

import (
	"encoding/json"
	"testing"
)

func TestEncodeDataIsJSON(t *testing.T) {
	t.Parallel()
	fields := []storedField{
		{"plain", 's', "Ann"},
		{"quote\"back\\slash", 's', "\"q\" \\ /"},
		{"controls", 's', "\n\r\t\x00\x1f"},
		{"unicode", 's', "Åsa 東京 🎉"},
		{"bad utf8 \xff", 's', "\xff\xfeok"},
		{"number", 'n', "12.5"},
	}
	data := encodeData(1700000000123, fields)
	var got map[string]string
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatalf("encodeData is not JSON: %v: %s", err, data)
	}
	for _, f := range fields {
		name, want := f.name, "1700000000123|"+string(f.code)+f.text
		if f.name == "bad utf8 \xff" {
			name, want = "bad utf8 \ufffd", "1700000000123|s\ufffd\ufffdok"
		}
		if got[name] != want {
			t.Errorf("%q = %q, want %q", name, got[name], want)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("decoded %d fields, want %d", len(got), len(fields))
	}
	if d := encodeData(1, nil); d != "{}" {
		t.Errorf("empty = %s", d)
	}
}

package ingest

import (
	"reflect"
	"testing"
)

// flatCases are bodies of every shape: those parseFlat takes and those it
// must leave to encoding/json.
var flatCases = []string{
	`{"email":"a@x.io","n":12,"f":-1.5e+3,"t":true,"no":false,"z":null}`,
	`[{"a":"1"},{"b":"2"}]`,
	"{\"a\":\"1\"}\n{\"b\":2}\r\n[{\"c\":3}]\n",
	`{"a":"1"}{"b":"2"}`,
	`[]`, ` [ ] `, `{}`, `[{}]`,
	`{"dup":"1","dup":"2"}`,
	`{"city":"Bangkok ก","emoji":"😀"}`,
	`{"a":"\u00e9"}`, `{"a":"x\"y"}`, `{"a":"x\\y"}`,
	"{\"a\":\"\xff\"}", "{\"a\":\"tab\there\"}",
	`{"a":{"b":1}}`, `{"a":[1,2]}`, `[{"a":1},2]`, `"str"`, `12`, `null`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":0.5E-7}`,
	`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":tru}`, `{"a":nul}`, `{"a":1`, `[{"a":1}`, `[{"a":1},]`,
	`{"a":1} x`, `{"a":"1"}]`, `[{"a":1} {"b":2}]`,
}

func TestParseFlatMatchesEncodingJSON(t *testing.T) {
	for _, body := range flatCases {
		checkFlat(t, []byte(body))
	}
}

// checkFlat holds parseFlat to encoding/json: when it takes a body, the
// full decoder must accept it and give the same items.
func checkFlat(t *testing.T, body []byte) {
	t.Helper()
	got, ok := parseFlat(body)
	if !ok {
		return
	}
	want, err := decodeJSON(body)
	if err != nil {
		t.Fatalf("parseFlat took %q, which encoding/json refuses: %v", body, err)
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("parseFlat(%q) = %#v, encoding/json gives %#v", body, got, want)
	}
}

// The fast path must take the bodies Braze sends.
func TestParseFlatTakesBrazeBodies(t *testing.T) {
	for _, body := range []string{flatCases[0], flatCases[1], flatCases[2], flatCases[9],
		`{"external_id":"u1","braze_id":"5f0","email":"a@x.io","date_of_birth":"19820101","push_subscribe":"opted_in","custom":12.5}`} {
		if _, ok := parseFlat([]byte(body)); !ok {
			t.Errorf("parseFlat declined %q", body)
		}
	}
}

func FuzzParseFlat(f *testing.F) {
	for _, c := range flatCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkFlat)
}

// A queued body read from its string gives what ParseBody gives.
func TestParseBodyStringMatchesParseBody(t *testing.T) {
	bodies := append([]string{"", "  ", "a=1&b=2", "email=x%40y.io"}, flatCases...)
	for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", ""} {
		for _, body := range bodies {
			got, gotErr := parseBodyString(ct, body)
			want, wantErr := ParseBody(ct, []byte(body))
			if (gotErr != nil) != (wantErr != nil) || (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q: parseBodyString = %#v, %v; ParseBody = %#v, %v", ct, body, got, gotErr, want, wantErr)
			}
		}
	}
}

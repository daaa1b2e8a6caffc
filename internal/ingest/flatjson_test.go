package ingest

import (
	"reflect"
	"testing"

	"github.com/brazesync/brazesync/internal/profiles"
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
	recs, ok := flatRecords(string(body))
	if !ok || len(recs) != len(want) {
		t.Fatalf("flatRecords(%q) = %d records, %v; parseFlat gives %d items", body, len(recs), ok, len(want))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(recordFields(r), want[i].Fields) {
			t.Fatalf("flatRecords(%q)[%d] = %#v, encoding/json gives %#v", body, i, r, want[i].Fields)
		}
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

// recordFields is a record's fields as ParseBody's items hold them.
func recordFields(r profiles.Record) map[string]any {
	if r.Strings == nil {
		return r.Fields
	}
	m := make(map[string]any, len(r.Strings))
	for k, v := range r.Strings {
		m[k] = v
	}
	return m
}

// parseRecords gives the records and problems of ParseBody's items.
func TestParseRecordsMatchesParseBody(t *testing.T) {
	for _, ct := range recordContentTypes {
		for _, body := range recordBodies() {
			checkRecords(t, ct, body)
		}
	}
}

var recordContentTypes = []string{"application/json", "application/x-www-form-urlencoded", ""}

func recordBodies() []string {
	return append([]string{"", "  ", "a=1&b=2", "email=x%40y.io", `[{"a":"1"},"x",{"b":2}]`, `{"a":{"b":1}}`}, flatCases...)
}

// checkRecords holds the collect body parser (parseRecords, which takes the
// flat fast path) to ParseBody: the same records and problems at the same
// item indexes, and the same verdict.
func checkRecords(t *testing.T, ct, body string) {
	t.Helper()
	parsed, err := parseRecords(ct, body)
	recs, index, problems, n := parsed.Records, parsed.Index, parsed.Problems, parsed.Items
	items, wantErr := ParseBody(ct, []byte(body))
	if (err != nil) != (wantErr != nil) || n != len(items) {
		t.Errorf("%s %q: parseRecords gives %d items, %v; ParseBody %d, %v", ct, body, n, err, len(items), wantErr)
		return
	}
	if len(recs) != len(index) || len(recs)+len(problems) != n {
		t.Errorf("%s %q: %d records, %d indexes and %d problems for %d items", ct, body, len(recs), len(index), len(problems), n)
		return
	}
	var got, want []any
	for k, r := range recs {
		got = append(got, index[k], recordFields(r))
	}
	for _, p := range problems {
		got = append(got, p.Index, p.Reason)
	}
	for i, it := range items {
		if it.Fields != nil {
			want = append(want, i, it.Fields)
		}
	}
	for i, it := range items {
		if it.Fields == nil {
			want = append(want, i, it.Problem)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %q: parseRecords = %v, ParseBody = %v", ct, body, got, want)
	}
}

// FuzzParseRecords: the collect body parser never panics, and its fast
// and full paths agree, for any content type and body.
func FuzzParseRecords(f *testing.F) {
	for _, ct := range recordContentTypes {
		for _, body := range recordBodies() {
			f.Add(ct, body)
		}
	}
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "email=a%40x.io&tag=x&tag=y")
	f.Add("application/x-ndjson", "{\"email\":\"a@x.io\"}\n[{\"b\":2}]\n")
	f.Add("text/plain; charset=\"", "a=%zz")
	f.Fuzz(checkRecords)
}

// BenchmarkParseRecordsBrazeSample reads the partner guide's webhook sample
// body as the collector and the processor do.
func BenchmarkParseRecordsBrazeSample(b *testing.B) {
	body := `{"city":"Bangkok","country":"TH","first_name":"Ann","gender":"F","language":"th","last_name":"Lee",` +
		`"date_of_birth":"19820101","phone_number":"+66000000001","time_zone":"GMT+7","twitter_handle":"@u1",` +
		`"email":"u1@example.com","braze_id":"5f000000000000001"}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRecords("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}

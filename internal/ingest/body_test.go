package ingest_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/ingest"
)

func TestParseBodyFormats(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, ct, body string
		records        int
		problems       int
	}{
		{"object", "application/json", `{"email":"a@x.io","n":1}`, 1, 0},
		{"array", "application/json", `[{"email":"a@x.io"},{"email":"b@x.io"}]`, 2, 0},
		{"ndjson", "application/x-ndjson", "{\"email\":\"a@x.io\"}\n{\"email\":\"b@x.io\"}\n\n{\"email\":\"c@x.io\"}\n", 3, 0},
		{"ndjson of arrays and objects", "", "[{\"a\":1}]\n{\"b\":2}", 2, 0},
		{"array with non-objects", "application/json", `[{"a":1}, "x", 3, null, [1]]`, 1, 4},
		{"top-level scalar", "application/json", `"just a string"`, 0, 1},
		{"form", "application/x-www-form-urlencoded; charset=utf-8", "email=a%40x.io&braze_id=b1&tag=x&tag=y", 1, 0},
		{"json without content type", "", `{"email":"a@x.io"}`, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			items, err := ingest.ParseBody(c.ct, []byte(c.body))
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			var recs, probs int
			for _, it := range items {
				if it.Fields != nil {
					recs++
				} else if it.Problem != "" {
					probs++
				}
			}
			if recs != c.records || probs != c.problems {
				t.Errorf("records/problems = %d/%d, want %d/%d (%+v)", recs, probs, c.records, c.problems, items)
			}
		})
	}
}

func TestParseBodyKeepsValues(t *testing.T) {
	t.Parallel()
	items, err := ingest.ParseBody("application/json", []byte(`{"id": 12345678901234567890, "ok": true, "tags": ["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := items[0].Fields
	if n, ok := f["id"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("id = %#v, want every digit as json.Number", f["id"])
	}
	if f["ok"] != true {
		t.Errorf("ok = %#v", f["ok"])
	}
	form, err := ingest.ParseBody("application/x-www-form-urlencoded", []byte("email=a%40x.io&tag=x&tag=y"))
	if err != nil {
		t.Fatal(err)
	}
	if form[0].Fields["email"] != "a@x.io" {
		t.Errorf("form email = %#v", form[0].Fields["email"])
	}
	if tags, _ := form[0].Fields["tag"].([]any); len(tags) != 2 {
		t.Errorf("repeated form field = %#v, want a list", form[0].Fields["tag"])
	}
}

func TestParseBodyMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``, `   `, `{"email": "a@x.io"`, `[{"a":1},`, `{"a":1} {"b":`, `{"a" 1}`, `[{"a":1}]]`, `nul`,
	} {
		_, err := ingest.ParseBody("application/json", []byte(body))
		var bad *ingest.BadBodyError
		if !errors.As(err, &bad) || bad.Reason == "" {
			t.Errorf("ParseBody(%q) err = %v, want a BadBodyError with a reason", body, err)
		}
	}
	for body, want := range map[string]string{
		`{"email": "a@x.io"`: "malformed JSON: the body ends before the JSON does",
		`{"a":1} {"b":`:      "malformed JSON: the body ends before the JSON does",
		`{"a":1} {"b" 2}`:    "malformed JSON after byte 14: invalid character '2' after object key",
	} {
		_, err := ingest.ParseBody("application/json", []byte(body))
		var bad *ingest.BadBodyError
		if !errors.As(err, &bad) || bad.Reason != want {
			t.Errorf("ParseBody(%q) err = %v, want %q", body, err, want)
		}
	}
	_, err := ingest.ParseBody("application/x-www-form-urlencoded", []byte("a=%zz"))
	if err == nil || !strings.Contains(err.Error(), "form") {
		t.Errorf("malformed form err = %v", err)
	}
}

func TestParseBodyJSONSentAsForm(t *testing.T) {
	t.Parallel()
	items, err := ingest.ParseBody("application/x-www-form-urlencoded", []byte(` {"braze_id":"u1","email":"a@example.com"}`))
	if err != nil || len(items) != 1 || items[0].Fields["braze_id"] != "u1" {
		t.Fatalf("JSON with a form content type: %+v %v", items, err)
	}
	items, err = ingest.ParseBody("application/x-www-form-urlencoded", []byte(`braze_id=u2&email=b%40example.com`))
	if err != nil || len(items) != 1 || items[0].Fields["email"] != "b@example.com" {
		t.Fatalf("form: %+v %v", items, err)
	}
}

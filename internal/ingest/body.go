package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"

	"github.com/brazesync/brazesync/internal/profiles"
)

// BadBodyError tells why a request body could not be read at all. Nothing of
// such a body is written.
type BadBodyError struct {
	Reason string
}

func (e *BadBodyError) Error() string { return "bad request body: " + e.Reason }

// Item is one top-level value of a body: a record, or the reason it is not one.
type Item struct {
	Fields map[string]any
	// Problem is set when the value is not a record (e.g. a JSON string).
	Problem string
}

// isForm reports whether contentType is application/x-www-form-urlencoded.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// ParseBody reads the records of a collect request body: one JSON object, a
// JSON array of objects, newline-delimited JSON (any sequence of objects and
// arrays of objects), or, with content type
// application/x-www-form-urlencoded, one record of form fields. JSON numbers
// are kept as json.Number so that long ids keep every digit. A body that is
// not well-formed gives a *BadBodyError.
func ParseBody(contentType string, body []byte) ([]Item, error) {
	return parseBody(contentType, body, parseJSON)
}

// parseBody is ParseBody reading JSON with readJSON.
func parseBody(contentType string, body []byte, readJSON func([]byte) ([]Item, error)) ([]Item, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &BadBodyError{Reason: "the body is empty"}
	}
	// A form content type with a JSON body is what `curl -d '{...}'` and a
	// misconfigured campaign send: a form body never starts with { or [.
	if first := bytes.TrimSpace(body)[0]; first != '{' && first != '[' && isForm(contentType) {
		return parseForm(body)
	}
	return readJSON(body)
}

// Records is what a collect body holds, in the form profiles.Store takes.
type Records struct {
	// Records are the body's records; Index[i] is the item index of
	// Records[i] in the body.
	Records []profiles.Record
	Index   []int
	// Problems are the items that are not records (by item index).
	Problems []profiles.Rejection
	// Items is the number of items in the body.
	Items int
}

// ParseRecords reads a body as ParseBody does, into profile records. The
// common flat JSON body is read straight into records, an object whose
// values are all strings as Record.Strings (no value boxed in an
// interface).
func ParseRecords(contentType string, body []byte) (Records, error) {
	return parseRecords(contentType, string(body))
}

// parseRecords is ParseRecords of a body held as a string (a queued
// request).
func parseRecords(contentType, body string) (Records, error) {
	// A body flatRecords takes starts with { or [, which ParseBody reads as
	// JSON whatever the content type.
	if recs, ok := flatRecords(body); ok && len(recs) > 0 {
		out := Records{Records: recs, Index: make([]int, len(recs)), Items: len(recs)}
		for i := range out.Index {
			out.Index[i] = i
		}
		return out, nil
	}
	// Not flat (or empty): the flat parse need not be tried again.
	items, err := parseBody(contentType, []byte(body), decodeJSON)
	if err != nil {
		return Records{}, err
	}
	out := Records{Records: make([]profiles.Record, 0, len(items)), Index: make([]int, 0, len(items)), Items: len(items)}
	for i, it := range items {
		if it.Fields == nil {
			out.Problems = append(out.Problems, profiles.Rejection{Index: i, Reason: it.Problem})
			continue
		}
		out.Records = append(out.Records, profiles.Record{Fields: it.Fields})
		out.Index = append(out.Index, i)
	}
	return out, nil
}

func parseForm(body []byte) ([]Item, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &BadBodyError{Reason: fmt.Sprintf("malformed form body: %v", err)}
	}
	fields := make(map[string]any, len(vals))
	for k, vs := range vals {
		switch len(vs) {
		case 0:
		case 1:
			fields[k] = vs[0]
		default:
			list := make([]any, len(vs))
			for i, v := range vs {
				list[i] = v
			}
			fields[k] = list
		}
	}
	return []Item{{Fields: fields}}, nil
}

func parseJSON(body []byte) ([]Item, error) {
	if items, ok := parseFlat(body); ok {
		return items, nil
	}
	return decodeJSON(body)
}

// decodeJSON reads any JSON body with encoding/json.
func decodeJSON(body []byte) ([]Item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var items []Item
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformed(err)
		}
		if list, ok := v.([]any); ok {
			for _, e := range list {
				items = append(items, itemOf(e))
			}
			continue
		}
		items = append(items, itemOf(v))
	}
	return items, nil
}

func itemOf(v any) Item {
	if obj, ok := v.(map[string]any); ok {
		return Item{Fields: obj}
	}
	kind := "null"
	switch v.(type) {
	case string:
		kind = "a string"
	case json.Number:
		kind = "a number"
	case bool:
		kind = "a boolean"
	case []any:
		kind = "a list"
	}
	return Item{Problem: "not a JSON object but " + kind}
}

// malformed says where the JSON of a body breaks: after which byte, or
// that the body ends before the JSON does.
func malformed(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &BadBodyError{Reason: "malformed JSON: the body ends before the JSON does"}
	case errors.As(err, &se):
		return &BadBodyError{Reason: fmt.Sprintf("malformed JSON after byte %d: %v", se.Offset, err)}
	}
	return &BadBodyError{Reason: fmt.Sprintf("malformed JSON: %v", err)}
}

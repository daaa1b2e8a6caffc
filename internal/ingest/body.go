package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
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
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &BadBodyError{Reason: "the body is empty"}
	}
	// A form content type with a JSON body is what `curl -d '{...}'` and a
	// misconfigured campaign send: a form body never starts with { or [.
	if first := bytes.TrimSpace(body)[0]; first != '{' && first != '[' && isForm(contentType) {
		return parseForm(body)
	}
	return parseJSON(body)
}

// parseBodyString is ParseBody of a body held as a string (a queued
// request), which the common flat JSON body is read from without a copy.
func parseBodyString(contentType, body string) ([]Item, error) {
	// A body parseFlatString takes starts with { or [, which ParseBody reads
	// as JSON whatever the content type.
	if items, ok := parseFlatString(body); ok && len(items) > 0 {
		return items, nil
	}
	return ParseBody(contentType, []byte(body))
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
			return nil, malformed(dec, err)
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

func malformed(dec *json.Decoder, err error) error {
	return &BadBodyError{Reason: fmt.Sprintf("malformed JSON near byte %d: %v", dec.InputOffset(), err)}
}

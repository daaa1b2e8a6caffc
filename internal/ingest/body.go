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

// bodyRecords reads a body as ParseBody does, into the records to apply
// (index[i] is the item index of records[i]) and the items that are not
// records (problems); n is the number of items. The common flat JSON body
// (see flatRecords) is read without going through Items.
func bodyRecords(contentType, body string) (records []profiles.Record, index []int, problems []profiles.Rejection, n int, err error) {
	// A body flatRecords takes starts with { or [, which ParseBody reads as
	// JSON whatever the content type.
	if recs, ok := flatRecords(body); ok && len(recs) > 0 {
		index = make([]int, len(recs))
		for i := range index {
			index[i] = i
		}
		return recs, index, nil, len(recs), nil
	}
	items, err := ParseBody(contentType, []byte(body))
	if err != nil {
		return nil, nil, nil, 0, err
	}
	records = make([]profiles.Record, 0, len(items))
	index = make([]int, 0, len(items))
	for i, it := range items {
		if it.Fields == nil {
			problems = append(problems, profiles.Rejection{Index: i, Reason: it.Problem})
			continue
		}
		records = append(records, profiles.Record{Fields: it.Fields})
		index = append(index, i)
	}
	return records, index, problems, len(items), nil
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

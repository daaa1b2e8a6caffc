package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/httpbody"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Error is an API error: an HTTP status, a stable code and a human message,
// answered as {"error": {"code", "message", "field"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors.
var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "a valid token is required (Authorization: Bearer TOKEN, or ?key=TOKEN)"}
	errForbidden    = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "this token may not do that on this account"}
)

// Invalid is a 422 for a bad value in field.
func Invalid(field, message string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Field: field, Message: field + ": " + message}
}

// toError translates domain errors to API errors once, at the boundary:
// every *fault.ValidationError is 422 invalid with its field, and each
// domain's sentinels have their status and code here.
func toError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var (
		ve *fault.ValidationError
		zd *authorizations.DestinationError
	)
	switch {
	case errors.As(err, &zd):
		return &Error{Status: http.StatusUnprocessableEntity, Code: egress.Code, Field: zd.Field, Message: zd.Error()}
	case errors.As(err, &ve):
		return Invalid(ve.Field, ve.Message)
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, authorizations.ErrNotFound), errors.Is(err, jobs.ErrNotFound),
		errors.Is(err, audiences.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, accounts.ErrExists), errors.Is(err, audiences.ErrExists):
		return &Error{Status: http.StatusConflict, Code: "exists", Message: err.Error()}
	case errors.Is(err, jobs.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	case errors.Is(err, audiences.ErrBuiltin):
		return &Error{Status: http.StatusConflict, Code: "builtin", Message: err.Error()}
	case errors.Is(err, audiences.ErrNotList):
		return &Error{Status: http.StatusConflict, Code: "not_list", Message: err.Error()}
	}
	return nil
}

// writeError answers err; unknown errors are logged and answered 500 (or 503
// when Redis is unreachable) without their text.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := toError(err)
	if e == nil {
		if isUnavailable(err) {
			e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "storage is unavailable; retry later"}
			w.Header().Set("Retry-After", "5")
		} else {
			e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the request id identifies it in the logs"}
		}
		log.ErrorContext(r.Context(), "request failed", "err", err, "request_id", RequestID(r.Context()))
	}
	writeJSON(w, e.Status, map[string]any{"error": e})
}

func isUnavailable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "i/o timeout") ||
		strings.Contains(s, "connect:") || strings.Contains(s, "LOADING") || strings.Contains(s, "OOM") ||
		strings.Contains(s, "client is closed") || strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxBodyBytes bounds JSON request bodies of the management API.
const MaxBodyBytes = 1 << 20

// decode reads a JSON body strictly: unknown fields are 400, too large 413,
// a value of the wrong kind 422 invalid on its field (see decodeError).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readBody(w, r, MaxBodyBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Errorf(http.StatusBadRequest, "malformed", "request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(data, reflect.TypeOf(v), err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed", "request body has data after the JSON object")
	}
	return nil
}

// readBody reads a request body of at most limit bytes
// (httpbody.Read): 413 too_large beyond, answered before a body announced
// as too large is sent.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := httpbody.Read(w, r, limit)
	switch {
	case errors.Is(err, httpbody.ErrTooLarge):
		return nil, Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body is over %d bytes", limit)
	case err != nil:
		return nil, Errorf(http.StatusBadRequest, "malformed", "the request body could not be read: %v", err)
	}
	return data, nil
}

// decodeError translates what encoding/json says of body, decoded into a
// value of type t, into the API's terms: JSON that does not parse is 400
// malformed with where it breaks; a value of the wrong kind (a string for
// a list, "tomorrow" for a timestamp) is 422 invalid naming its field the
// way the body writes it ("add[0]", "config"), never a Go type.
func decodeError(body []byte, t reflect.Type, err error) *Error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "malformed", "request body is not valid JSON: the body ends before the JSON does")
	case errors.As(err, &se):
		return Errorf(http.StatusBadRequest, "malformed", "request body is not valid JSON: %s (after byte %d)", se.Error(), se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return Errorf(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	// The body is valid JSON (Decode checks the syntax of the whole value
	// first): a value in it does not fit its field. Find the first one.
	if field, want, got, ok := misfit(body, t, ""); ok {
		msg := "must be " + expectation(want) + ", not " + described(want, got)
		if field == "" {
			return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "the body " + msg}
		}
		return Invalid(field, msg)
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field == "" {
			return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "the body must be " + expectation(ute.Type)}
		}
		return Invalid(ute.Field, "must be "+expectation(ute.Type))
	}
	return Errorf(http.StatusBadRequest, "malformed", "request body does not fit this request")
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	// expectations say what a type takes where its kind alone says too
	// little.
	expectations = map[reflect.Type]string{
		timeType:                              `an RFC 3339 timestamp such as "2030-12-31T23:59:59Z"`,
		reflect.TypeFor[audiences.Identity](): `an object like {"email": "ann@example.com"} (an identity field and its value)`,
	}
)

// misfit finds the first value of the valid JSON raw that does not decode
// into type t, at path: its path ("" for the whole body), the type it
// should fit and the value. Object keys are visited in sorted order.
func misfit(raw []byte, t reflect.Type, path string) (string, reflect.Type, []byte, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" || t == rawType {
		return "", nil, nil, false
	}
	composite := t.Kind() == reflect.Struct || t.Kind() == reflect.Map ||
		((t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8)
	if t == timeType || !composite {
		if json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
			return path, t, raw, true
		}
		return "", nil, nil, false
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return path, t, raw, true
		}
		for i, v := range list {
			if f, w, g, ok := misfit(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				return f, w, g, true
			}
		}
		return "", nil, nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return path, t, raw, true
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		var elem reflect.Type
		if t.Kind() == reflect.Struct {
			f, ok := jsonField(t, k)
			if !ok {
				continue
			}
			elem = f.Type
		} else {
			elem = t.Elem()
		}
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		if f, w, g, ok := misfit(obj[k], elem, sub); ok {
			return f, w, g, true
		}
	}
	return "", nil, nil, false
}

// jsonField is the field of struct t that encoding/json decodes key into:
// by its tag or name, exactly or else ignoring case.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var folded *reflect.StructField
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if folded == nil && strings.EqualFold(name, key) {
			folded = &f
		}
	}
	if folded != nil {
		return *folded, true
	}
	return reflect.StructField{}, false
}

// expectation says in JSON's terms what a value of type t is.
func expectation(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := expectations[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		return "a JSON object"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "a JSON object of strings"
		}
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another kind of value"
}

// described says what the JSON value v is, for a field of type want: its
// kind, or the value itself where showing it helps (a timestamp, a
// number out of range).
func described(want reflect.Type, v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return string(v)
	case '"':
		if want == timeType && len(v) <= 42 {
			return string(v)
		}
		return "a string"
	}
	if len(v) <= 24 {
		return string(v)
	}
	return "a number"
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
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

// decode reads a JSON body strictly: unknown fields are 400, too large 413.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body is over %d bytes", MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return Errorf(http.StatusBadRequest, "malformed", "request body is empty; a JSON object is expected")
		case errors.As(err, &ute):
			return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Field: ute.Field, Message: fmt.Sprintf("%s: must be %s", ute.Field, ute.Type)}
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return Errorf(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return Errorf(http.StatusBadRequest, "malformed", "request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed", "request body has data after the JSON object")
	}
	return nil
}

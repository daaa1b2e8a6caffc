// Package fault is brazesync's error vocabulary: the errors that say what
// a caller must do about a failure, shared by every domain package, the
// workers and the API.
//
//   - *ValidationError: a bad value from a client, naming its field. The API
//     answers 422 "invalid"; a task that meets one fails for good.
//   - *WaitError: the work cannot go on yet (a rate limit, a busy server)
//     and comes back after a delay. Waiting is not a failure.
//   - *PermanentError: no retry can fix it (a rejected key, an unpinned host
//     key); the job fails with the error's stable code.
//
// Anything else is transient: retried with Backoff.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is what every *ValidationError is (errors.Is).
var ErrInvalid = errors.New("invalid")

// ValidationError is a bad value; Field names it ("label",
// "config.audiences[0]"), Message says what is expected.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns a *ValidationError.
func Invalid(field, message string) error {
	return &ValidationError{Field: field, Message: message}
}

// Invalidf returns a *ValidationError with a formatted message.
func Invalidf(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// WaitError says the work must wait Delay before it goes on: a rate limit,
// a busy server or a job already running elsewhere. A task that returns one
// runs again after Delay without using a retry and without counting as a
// failure.
type WaitError struct {
	Delay  time.Duration
	Reason string
}

func (e *WaitError) Error() string { return fmt.Sprintf("waiting %s: %s", e.Delay, e.Reason) }

// Wait returns a *WaitError.
func Wait(d time.Duration, reason string) error { return &WaitError{Delay: d, Reason: reason} }

// PermanentError is a failure no retry fixes. Code is its stable code, the
// job's last_error.code ("" lets the runner choose one).
type PermanentError struct {
	Code string
	Err  error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// ProblemCode returns the stable code of the failure.
func (e *PermanentError) ProblemCode() string { return e.Code }

// Permanent returns a *PermanentError.
func Permanent(code string, err error) error { return &PermanentError{Code: code, Err: err} }

// IsPermanent reports whether err (or an error it wraps) is a
// *PermanentError or a *ValidationError: retrying cannot help.
func IsPermanent(err error) bool {
	var pe *PermanentError
	var ve *ValidationError
	return errors.As(err, &pe) || errors.As(err, &ve)
}

// AsWait returns the *WaitError err is or wraps.
func AsWait(err error) (*WaitError, bool) {
	var w *WaitError
	ok := errors.As(err, &w)
	return w, ok
}

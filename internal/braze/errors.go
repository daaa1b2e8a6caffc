package braze

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Class is what a caller should do about a failed request.
type Class int

// Error classes.
const (
	// Retryable: 5xx, timeouts and connection errors. Retry with Backoff.
	Retryable Class = iota + 1
	// RateLimited: 429. Retry at RetryAt; this is not a failure of the
	// task.
	RateLimited
	// Permanent: 400, 401, 403, 404, 413 and other answers that repeating
	// cannot fix. Do not retry; log Message and Hint on the job.
	Permanent
)

// String returns "retryable", "rate_limited" or "permanent".
func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is a failed /users/track request, classified once. Every error
// Track returns is an *Error.
type Error struct {
	Class Class
	// Status is the HTTP status, or 0 when no answer arrived.
	Status int
	// Message is Braze's "message" (or the transport error's text).
	Message string
	// Hint says what a person should check, for permanent errors.
	Hint string
	// RetryAt is when a rate-limited request may be sent again (from
	// X-RateLimit-Reset).
	RetryAt time.Time
	// RateLimit holds the X-RateLimit-* headers of the answer, if any.
	RateLimit RateLimit
	// Err is the underlying transport error, if any.
	Err error
}

// Error formats the error for logs; it never contains the API key.
func (e *Error) Error() string {
	s := "braze /users/track: " + e.Class.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	if e.Class == RateLimited && !e.RetryAt.IsZero() {
		s += "; retry at " + e.RetryAt.UTC().Format(time.RFC3339)
	}
	return s
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err if it is (or wraps) an *Error, else 0.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// Hints of permanent errors.
const (
	hint400 = "Braze rejected the request"
	hint401 = "key rejected: check the key and that the instance is the workspace's"
	hint403 = "key lacks the users.track permission or the plan lacks the endpoint"
	hint404 = "invalid URL: check the instance or REST endpoint"
	hint413 = "payload too large: send smaller batches"
	hint3xx = "the endpoint redirects: check the instance or REST endpoint"

	hintForbidden = "the REST endpoint points at an address brazesync does not connect to: check the instance or REST endpoint"
)

// rateLimitFallback is the wait after a 429 without a usable reset header.
const rateLimitFallback = time.Second

// classify turns a non-2xx answer into an *Error.
func classify(status int, message string, rl RateLimit, now time.Time) *Error {
	e := &Error{Status: status, Message: message, RateLimit: rl}
	switch {
	case status == http.StatusTooManyRequests:
		e.Class = RateLimited
		e.RetryAt = rl.Reset
		if !e.RetryAt.After(now) {
			e.RetryAt = now.Add(rateLimitFallback)
		}
	case status >= 500 || status == http.StatusRequestTimeout:
		e.Class = Retryable
	default:
		e.Class = Permanent
		switch status {
		case http.StatusBadRequest:
			e.Hint = hint400
		case http.StatusUnauthorized:
			e.Hint = hint401
		case http.StatusForbidden:
			e.Hint = hint403
		case http.StatusNotFound:
			e.Hint = hint404
		case http.StatusRequestEntityTooLarge:
			e.Hint = hint413
		default:
			if status/100 == 3 {
				e.Hint = hint3xx
			}
		}
	}
	return e
}

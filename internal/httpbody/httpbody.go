// Package httpbody reads HTTP request bodies under a size bound, one way
// for the API and the collect endpoint, each of which answers in its own
// shape.
package httpbody

import (
	"errors"
	"io"
	"net/http"
)

// ErrTooLarge is what Read returns for a body over its limit.
var ErrTooLarge = errors.New("request body is over the limit")

// Read reads the body of r, of at most limit bytes. A body whose
// Content-Length is over limit is refused before any of it is read, so
// that a client that sent "Expect: 100-continue" (curl does, for large
// bodies) gets its answer instead of being told to send the body into a
// connection that is then reset under it. Over the limit, the error is
// ErrTooLarge; else it is the read's own.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, ErrTooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, ErrTooLarge
	case err != nil:
		return nil, err // the caller's answer says what it was reading
	}
	return data, nil
}

package httpbody_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/httpbody"
)

// TestRead: a body within the limit is read whole; one over it is
// ErrTooLarge whether its Content-Length says so (refused unread) or it
// comes without one.
func TestRead(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	if data, err := httpbody.Read(httptest.NewRecorder(), r, 5); err != nil || string(data) != "12345" {
		t.Fatalf("within the limit: %q %v", data, err)
	}
	announced := &countingReader{r: strings.NewReader("123456")}
	r = httptest.NewRequest("POST", "/", announced)
	r.ContentLength = 6
	if _, err := httpbody.Read(httptest.NewRecorder(), r, 5); !errors.Is(err, httpbody.ErrTooLarge) || announced.n != 0 {
		t.Fatalf("announced over the limit: %v, %d bytes read; want ErrTooLarge with none read", err, announced.n)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("123456"))
	r.ContentLength = -1
	if _, err := httpbody.Read(httptest.NewRecorder(), r, 5); !errors.Is(err, httpbody.ErrTooLarge) {
		t.Fatalf("over the limit without a length: %v, want ErrTooLarge", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

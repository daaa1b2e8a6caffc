package csvimport

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadaheadPassesDataAndErrorsThrough(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	ra := newReadahead(iotest.HalfReader(bytes.NewReader(data)), 4096, 3)
	got, err := io.ReadAll(ra)
	ra.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}

	// A truncation error must not turn into a clean end.
	src := io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	ra = newReadahead(src, 4096, 3)
	got, err = io.ReadAll(ra)
	ra.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 5000 {
		t.Fatalf("got %d bytes and %v, want 5000 and io.ErrUnexpectedEOF", len(got), err)
	}

	// Closing early stops the goroutine (goleak checks).
	ra = newReadahead(bytes.NewReader(data), 1024, 2)
	_, _ = ra.Read(make([]byte, 10))
	ra.Close()
	ra.Close()
}

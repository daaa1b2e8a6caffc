package sftpclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

// TestSpoolReadsWhatIsWrittenThenTheOutcome: a reader waits for the
// writer, gets every byte in order, then the download's error or io.EOF.
func TestSpoolReadsWhatIsWrittenThenTheOutcome(t *testing.T) {
	t.Parallel()
	for _, outcome := range []error{nil, errors.New("connection lost")} {
		sp, err := newSpool(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte("0123456789"), 10000)
		go func() {
			for rest := want; len(rest) > 0; {
				n := min(len(rest), 777)
				if _, err := sp.Write(rest[:n]); err != nil {
					t.Error(err)
					return
				}
				rest = rest[n:]
			}
			sp.finish(outcome)
		}()
		got, err := io.ReadAll(sp)
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, want %d", len(got), len(want))
		}
		if outcome == nil && err != nil || outcome != nil && !errors.Is(err, outcome) {
			t.Fatalf("after the last byte: %v, want %v", err, outcome)
		}
		sp.close()
		sp.release()
	}
}

// TestSpoolClosedStopsTheWriter: once the reader closed, writes fail (which
// stops the download) and reads too.
func TestSpoolClosedStopsTheWriter(t *testing.T) {
	t.Parallel()
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.release()
	if _, err := sp.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	sp.close()
	if _, err := sp.Write([]byte("def")); !errors.Is(err, errSpoolClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := sp.Read(make([]byte, 8)); !errors.Is(err, errSpoolClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// TestOpenDownloadsAheadOfTheReader: nothing comes down before the first
// Read; then the whole file does while the reader reads nothing more,
// into a spool file that is never visible in TempDir and is gone after
// Close.
func TestOpenDownloadsAheadOfTheReader(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	big := bytes.Repeat([]byte("row,of,data\n"), 300_000) // 3.6 MB
	s.WriteFile(t, "big.csv", big)
	cfg := baseConfig(s)
	cfg.TempDir = t.TempDir()
	c := dial(t, cfg)
	r, err := c.Open(context.Background(), "big.csv")
	if err != nil {
		t.Fatal(err)
	}
	sp := r.(*spoolReader).spool
	// A file opened but not read yet is not downloaded: the handle stays
	// as it is while the caller decides.
	second, err := c.Open(context.Background(), "big.csv")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the whole file in the spool", func() bool {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return sp.done && sp.written == int64(len(big))
	})
	if entries, _ := os.ReadDir(cfg.TempDir); len(entries) != 0 {
		t.Errorf("spool file visible in TempDir: %v", entries)
	}
	unread := second.(*spoolReader).spool
	unread.mu.Lock()
	written := unread.written
	unread.mu.Unlock()
	if written != 0 {
		t.Errorf("a file not read yet: %d bytes downloaded", written)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Read(first); err == nil {
		t.Error("Read after Close of an unread file: no error")
	}
	rest, err := io.ReadAll(r)
	got := append(first, rest...)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestSpoolCreatesItsFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	sp, err := newSpool(dir)
	if err != nil {
		t.Fatalf("newSpool in a folder that does not exist yet: %v", err)
	}
	sp.close()
	sp.release()
}

// TestOpenReadsEveryChunkInOrder: files of sizes around the download's
// chunks come down whole and in order, empty ones too.
func TestOpenReadsEveryChunkInOrder(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	sizes := []int{0, 1, downloadChunk - 1, downloadChunk, downloadChunk + 1, (downloadAhead+2)*downloadChunk + 123}
	files := make(map[string][]byte)
	for _, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		name := fmt.Sprintf("f%d.bin", n)
		files[name] = b
		s.WriteFile(t, name, b)
	}
	c := dial(t, baseConfig(s))
	for name, want := range files {
		r, err := c.Open(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes of %d (%v), equal %v", name, len(got), len(want), err, bytes.Equal(got, want))
		}
	}
}

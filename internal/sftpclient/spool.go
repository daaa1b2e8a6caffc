package sftpclient

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// errSpoolClosed stops a download whose reader was closed.
var errSpoolClosed = errors.New("sftp: download reader closed")

// spool is a temporary file that a download appends to while its reader
// reads it from the start, waiting at the end of what is written so far.
// The download runs at the network's pace rather than the reader's: over a
// long link, a reader that stops for a moment (a decrypter, a CSV parser)
// no longer lets the requests in flight run dry, and the file is down
// sooner. It costs disk space up to the file's size, for as long as the
// reader is open; the file is unlinked as soon as it is created where the
// system allows, so that nothing is left behind by a crash.
type spool struct {
	f        *os.File
	unlinked bool

	mu      sync.Mutex
	cond    sync.Cond
	written int64 // bytes written so far
	done    bool  // the download ended, with err
	err     error
	closed  bool  // the reader closed
	off     int64 // the reader's offset
}

// newSpool creates the temporary file in dir (os.TempDir() when empty),
// creating dir when it does not exist yet.
func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "brazesync-download-*")
	if errors.Is(err, fs.ErrNotExist) && dir != "" {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			f, err = os.CreateTemp(dir, "brazesync-download-*")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sftp: creating the download's spool file: %w", err)
	}
	s := &spool{f: f, unlinked: os.Remove(f.Name()) == nil}
	s.cond.L = &s.mu
	return s, nil
}

// Write appends p, for the download. It fails once the reader closed.
func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return 0, errSpoolClosed
	}
	n, err := s.f.Write(p)
	s.mu.Lock()
	s.written += int64(n)
	s.cond.Broadcast()
	s.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("sftp: writing the download's spool file: %w", err)
	}
	return n, nil
}

// finish records the download's end: err, or nil for the whole file.
func (s *spool) finish(err error) {
	s.mu.Lock()
	s.done, s.err = true, err
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Read reads what the download wrote, waiting for more; after the last
// byte it returns the download's error, or io.EOF.
func (s *spool) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	for s.off == s.written && !s.done && !s.closed {
		s.cond.Wait()
	}
	closed, off, avail, done, derr := s.closed, s.off, s.written-s.off, s.done, s.err
	s.mu.Unlock()
	switch {
	case closed:
		return 0, errSpoolClosed
	case avail == 0 && done && derr != nil:
		return 0, derr
	case avail == 0 && done:
		return 0, io.EOF
	}
	n, err := s.f.ReadAt(p[:min(int64(len(p)), avail)], off)
	s.mu.Lock()
	s.off += int64(n)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("sftp: reading the download's spool file: %w", err)
	}
	return n, nil
}

// close makes the download stop at its next write and the reader's calls
// fail. The file itself is closed by release.
func (s *spool) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// release closes and removes the file, once the download is over.
func (s *spool) release() {
	_ = s.f.Close()
	if !s.unlinked {
		_ = os.Remove(s.f.Name())
	}
}

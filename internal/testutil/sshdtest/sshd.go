// Package sshdtest starts a real OpenSSH sshd (with its internal-sftp
// subsystem) for tests, and makes gpg keys and encrypted files in a
// throwaway GNUPGHOME: internal/opensshd bound to a test, which it skips
// when sshd or gpg is not installed, fails on any error, and cleans up
// after. See internal/opensshd for how authentication works.
package sshdtest

import (
	"errors"
	"testing"

	"github.com/brazesync/brazesync/internal/opensshd"
)

// Options tune Start.
type Options = opensshd.Options

// Server is a running sshd.
type Server struct {
	*opensshd.Server
}

// Start starts sshd for the test and stops it (and removes the test user)
// when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := opensshd.Start(opts)
	if errors.Is(err, opensshd.ErrNotInstalled) {
		t.Skipf("sshdtest: %v", err)
	}
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
	})
	return &Server{s}
}

// RequirePassword skips the test when the server has no password user
// (tests not running as root).
func (s *Server) RequirePassword(t testing.TB) {
	t.Helper()
	if s.Password == "" {
		t.Skip("sshdtest: password authentication needs root to create a test user")
	}
}

// WriteFile writes name (relative to Dir) with data, creating parent
// directories, and gives it to User.
func (s *Server) WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p, err := s.Server.WriteFile(name, data)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return p
}

// Mkdir creates the directory name (relative to Dir) and its parents, owned
// by User.
func (s *Server) Mkdir(t testing.TB, name string) string {
	t.Helper()
	p, err := s.Server.Mkdir(name)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return p
}

// Own gives the file or directory name (relative to Dir) to User, for files
// written into Dir by other means than WriteFile.
func (s *Server) Own(t testing.TB, name string) {
	t.Helper()
	if err := s.Server.Own(name); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
}

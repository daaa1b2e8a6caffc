// Package sshcapture is an SSH server for tests that lets no one in and
// records what clients tried: every password, keyboard-interactive answer
// and public key offered, and every connection. Tests use it to prove that
// a credential did not reach a server it was not meant for.
package sshcapture

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Attempt is one authentication attempt.
type Attempt struct {
	User string
	// Method is "password", "keyboard-interactive" or "publickey".
	Method string
	// Secret is the password, the keyboard-interactive answers joined by
	// newlines, or the offered key as an authorized_keys line.
	Secret string
}

// Server is a running capturing SSH server on loopback.
type Server struct {
	// Addr is host:port; Host and Port are its parts.
	Addr string
	Host string
	Port int
	// HostKey is the server's host key; HostKeyAuthorized its
	// authorized_keys line.
	HostKey           ssh.PublicKey
	HostKeyAuthorized string

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	tried  []Attempt
	n      int // connections accepted
	closed bool
}

var errDenied = errors.New("sshcapture: denied")

// Start starts a server on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), HostKey: signer.PublicKey(), ln: ln, conns: map[net.Conn]bool{}}
	s.HostKeyAuthorized = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			s.record(Attempt{User: c.User(), Method: "password", Secret: string(pw)})
			return nil, errDenied
		},
		KeyboardInteractiveCallback: func(c ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := challenge(c.User(), "", []string{"Password: "}, []bool{false})
			if err == nil {
				s.record(Attempt{User: c.User(), Method: "keyboard-interactive", Secret: strings.Join(answers, "\n")})
			}
			return nil, errDenied
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.record(Attempt{User: c.User(), Method: "publickey", Secret: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))})
			return nil, errDenied
		},
	}
	cfg.AddHostKey(signer)
	s.wg.Add(1)
	go s.serve(cfg)
	t.Cleanup(s.close)
	return s
}

func (s *Server) serve(cfg *ssh.ServerConfig) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.n++
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// Every login fails, so the handshake ends with an error.
			if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
				_ = sc.Close()
			}
			_ = c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) record(a Attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tried = append(s.tried, a)
}

// Attempts returns the authentication attempts so far.
func (s *Server) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.tried...)
}

// Connections returns how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Saw reports whether any attempt carried secret (a password, an answer,
// or a public key line).
func (s *Server) Saw(secret string) bool {
	for _, a := range s.Attempts() {
		if strings.Contains(a.Secret, secret) {
			return true
		}
	}
	return false
}

func (s *Server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

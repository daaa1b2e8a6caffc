package sftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Permission extensions that carry the login from authentication to the
// session. ssh.ServerConn.Permissions holds those of the method that
// actually succeeded.
const (
	extAccount  = "brazesync-account"
	extUsername = "brazesync-username"
	extAuthID   = "brazesync-auth-id"
	extMethod   = "brazesync-method"
	extKeyFP    = "brazesync-key-fp"
)

// authTimeout bounds the Redis calls of one authentication attempt.
const authTimeout = 10 * time.Second

var errBadCredentials = errors.New("invalid credentials")

// sshConfig builds the SSH server configuration.
func (s *Server) sshConfig() *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		PasswordCallback:            s.passwordCallback,
		KeyboardInteractiveCallback: s.keyboardInteractiveCallback,
		PublicKeyCallback:           s.publicKeyCallback,
		VerifiedPublicKeyCallback:   s.verifiedPublicKeyCallback,
		ServerVersion:               "SSH-2.0-brazesync",
		MaxAuthTries:                6,
	}
	c.Ciphers = s.cfg.Ciphers
	c.AddHostKey(s.hostKey)
	return c
}

func remoteIP(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

func (s *Server) authContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, authTimeout)
}

// refuse logs and counts a refused login and returns the error for ssh.
func (s *Server) refuse(ctx context.Context, method, reason, username, ip string, err error) error {
	s.metrics.loginFailures.WithLabelValues(method, reason).Inc()
	level := slog.LevelWarn
	if reason == "error" {
		level = slog.LevelError
	}
	s.logger.LogAttrs(ctx, level, "sftp login refused",
		slog.String("method", method), slog.String("reason", reason),
		slog.String("username", username), slog.String("remote_ip", ip),
		slog.String("error", err.Error()))
	return err
}

func (s *Server) passwordCallback(conn ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	return s.checkPassword(conn, "password", password)
}

// keyboardInteractiveCallback asks for the password once: clients that are
// told plain password authentication is unavailable often try this.
func (s *Server) keyboardInteractiveCallback(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := client("", "", []string{"Password: "}, []bool{false})
	if err != nil {
		return nil, err
	}
	if len(answers) != 1 {
		return nil, errBadCredentials
	}
	return s.checkPassword(conn, "keyboard-interactive", []byte(answers[0]))
}

func (s *Server) checkPassword(conn ssh.ConnMetadata, method string, password []byte) (*ssh.Permissions, error) {
	ctx, cancel := s.authContext()
	defer cancel()
	username, ip := conn.User(), remoteIP(conn.RemoteAddr())
	u, err := s.users.LookupUser(ctx, username)
	if err != nil && !errors.Is(err, ErrNoUser) {
		return nil, s.refuse(ctx, method, "error", username, ip, err)
	}
	known := err == nil
	counters := s.guard.unknownCounters(ip)
	if known {
		counters = s.guard.userCounters(username, ip)
	}
	if err := s.guard.check(ctx, counters); err != nil {
		return nil, s.refuseLocked(ctx, method, username, ip, err)
	}
	// An unknown user costs a bcrypt comparison too (u has no hash then).
	if !s.users.checkPassword(u, password) {
		delay, ferr := s.guard.fail(ctx, counters, username, ip)
		if ferr != nil {
			s.logger.LogAttrs(ctx, slog.LevelError, "recording sftp login failure", slog.String("error", ferr.Error()))
		}
		err := s.refuse(ctx, method, "bad_credentials", username, ip, errBadCredentials)
		s.pause(delay)
		return nil, err
	}
	s.guard.succeed(ctx, username, ip)
	return s.loggedIn(ctx, u, method, "", ip), nil
}

// publicKeyCallback answers a key offer. Key logins are never locked out
// and never counted as failures (see guard): a key cannot be guessed, and
// brazesync's workers log in with one.
func (s *Server) publicKeyCallback(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	ctx, cancel := s.authContext()
	defer cancel()
	username, ip := conn.User(), remoteIP(conn.RemoteAddr())
	u, err := s.users.LookupUser(ctx, username)
	if errors.Is(err, ErrNoUser) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, s.refuse(ctx, "publickey", "error", username, ip, err)
	}
	ok, err := s.users.hasPublicKey(ctx, u, key)
	if err != nil {
		return nil, s.refuse(ctx, "publickey", "error", username, ip, err)
	}
	if !ok {
		// A key offer is not a guess: clients offer every key they hold.
		// Unknown keys are not counted as failures; MaxAuthTries bounds them.
		return nil, errBadCredentials
	}
	// Not logged in yet: the client has only offered the key. The verdict
	// comes in verifiedPublicKeyCallback, once it proved it holds the key.
	return &ssh.Permissions{Extensions: map[string]string{
		extAccount:  u.Account,
		extUsername: u.Username,
		extAuthID:   u.AuthID,
		extMethod:   "publickey",
		extKeyFP:    ssh.FingerprintSHA256(key),
	}}, nil
}

func (s *Server) verifiedPublicKeyCallback(conn ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	ctx, cancel := s.authContext()
	defer cancel()
	ip := remoteIP(conn.RemoteAddr())
	if perms == nil || perms.Extensions[extKeyFP] != ssh.FingerprintSHA256(key) || perms.Extensions[extUsername] != conn.User() {
		return nil, s.refuse(ctx, "publickey", "error", conn.User(), ip, errors.New("verified key differs from the offered key"))
	}
	u := User{Account: perms.Extensions[extAccount], Username: perms.Extensions[extUsername], AuthID: perms.Extensions[extAuthID]}
	return s.loggedIn(ctx, u, "publickey", perms.Extensions[extKeyFP], ip), nil
}

func (s *Server) refuseLocked(ctx context.Context, method, username, ip string, err error) error {
	var locked *lockedError
	if errors.As(err, &locked) {
		return s.refuse(ctx, method, "locked", username, ip, err)
	}
	return s.refuse(ctx, method, "error", username, ip, fmt.Errorf("checking lockout: %w", err))
}

func (s *Server) loggedIn(ctx context.Context, u User, method, keyFP, ip string) *ssh.Permissions {
	s.metrics.logins.WithLabelValues(method).Inc()
	attrs := []slog.Attr{slog.String("method", method), slog.String("account", u.Account),
		slog.String("username", u.Username), slog.String("remote_ip", ip)}
	if keyFP != "" {
		attrs = append(attrs, slog.String("key_fingerprint", keyFP))
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "sftp login", attrs...)
	return &ssh.Permissions{Extensions: map[string]string{
		extAccount:  u.Account,
		extUsername: u.Username,
		extAuthID:   u.AuthID,
		extMethod:   method,
		extKeyFP:    keyFP,
	}}
}

// pause waits d after a failed login, or less if the server stops.
func (s *Server) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}

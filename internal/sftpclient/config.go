// Package sftpclient is brazesync's SFTP transfer client: it connects to a
// customer's SFTP server with a pinned host key, lists folders and streams
// files down through pkg/sftp's concurrent read path, and never hangs on a
// silent server. A Redis-backed Limiter caps the connections every worker
// process opens to one authorization's server at once.
package sftpclient

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for Config fields left zero.
const (
	PortDefault              = 22
	HandshakeTimeoutDefault  = 30 * time.Second
	KeepaliveIntervalDefault = 15 * time.Second
	IdleTimeoutDefault       = 60 * time.Second
)

// Config says how to reach and log in to one SFTP server.
type Config struct {
	Host string
	Port int // default 22
	// Username to log in as. Required.
	Username string
	// Password is tried after the private key, both as plain password
	// authentication and as the answer to keyboard-interactive prompts.
	Password string
	// PrivateKey is an OpenSSH or PEM private key (RSA, ECDSA, Ed25519),
	// optionally protected by Passphrase. It is tried first.
	PrivateKey []byte
	Passphrase []byte

	// HostKey pins the server's host key: an authorized_keys line
	// ("ssh-ed25519 AAAA..."), a known_hosts line ("host ssh-ed25519
	// AAAA...") or a fingerprint ("SHA256:..."). Required: it is checked
	// before any credential is sent. A mismatch is a *HostKeyMismatchError.
	// ScanHostKey reads the key of a server not pinned yet, without
	// logging in.
	HostKey string

	// Dialer opens the TCP connection: the egress policy's dialer for a
	// customer's server (*egress.Dialer). Nil: a plain net.Dialer. Its
	// errors that match egress.ErrForbidden are returned as they are.
	Dialer Dialer

	// HandshakeTimeout bounds TCP connect, SSH handshake, login and SFTP
	// session start. Default 30s. A server that has not sent an SSH
	// version line by then is ErrNoSSHServer.
	HandshakeTimeout time.Duration
	// KeepaliveInterval is how often a keepalive@openssh.com request is
	// sent. Default 15s.
	KeepaliveInterval time.Duration
	// IdleTimeout is the longest the server may stay silent (no answer to
	// keepalives or requests). Then the connection is closed, which fails
	// every pending call. Default 60s.
	IdleTimeout time.Duration

	// TempDir holds the spool files of Open's downloads (a download can
	// take up to its file's size there while it is read). Default
	// os.TempDir().
	TempDir string

	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Port == 0 {
		c.Port = PortDefault
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = HandshakeTimeoutDefault
	}
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = KeepaliveIntervalDefault
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = IdleTimeoutDefault
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks c (after WithDefaults) and names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("sftp config: host is required")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("sftp config: port %d is out of range 1-65535", c.Port)
	case c.Username == "":
		return errors.New("sftp config: username is required")
	case c.Password == "" && len(c.PrivateKey) == 0:
		return errors.New("sftp config: a password or a private_key is required")
	case c.HostKey == "":
		return errors.New("sftp config: host_key is required (pin the server's key or SHA256 fingerprint)")
	case c.KeepaliveInterval >= c.IdleTimeout:
		return fmt.Errorf("sftp config: keepalive interval %s must be shorter than idle timeout %s", c.KeepaliveInterval, c.IdleTimeout)
	}
	return nil
}

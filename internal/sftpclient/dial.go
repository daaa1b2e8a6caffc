package sftpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Errors callers branch on.
var (
	// ErrAuth: the server refused every login method offered.
	ErrAuth = errors.New("sftp: authentication failed")
	// ErrPrivateKey: the private key cannot be parsed or its passphrase is
	// missing or wrong.
	ErrPrivateKey = errors.New("sftp: unusable private key")
	// ErrTimeout: the server did not answer in time (handshake deadline or
	// idle timeout); the connection was closed.
	ErrTimeout = errors.New("sftp: server stopped answering")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("sftp: client closed")
)

// Client is one SSH connection with one SFTP session. Its methods are safe
// for concurrent use. A Client belongs to one task: when the context of any
// call ends before the call does, the whole Client is closed, because that
// is the only way to abandon a pending SFTP request.
type Client struct {
	cfg     Config
	conn    *activityConn
	ssh     *ssh.Client
	sftp    *sftp.Client
	hostKey ssh.PublicKey

	stop      chan struct{}
	done      chan struct{}
	pings     sync.WaitGroup
	pinging   atomic.Bool
	closeOnce sync.Once
	reason    atomic.Pointer[error] // why the connection was closed
	onClose   func()                // set by Limiter.Dial: releases the slot
}

// Dial connects, verifies the host key, logs in and starts the SFTP
// session, all within cfg.HandshakeTimeout and ctx.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	cc := &ssh.ClientConfig{User: cfg.Username, Timeout: cfg.HandshakeTimeout}

	// The host key is checked during the key exchange, before the client
	// offers any credential: a server that presents another key never
	// sees a password, a key or a keyboard-interactive answer.
	var seen ssh.PublicKey
	p, err := parsePin(cfg.HostKey)
	if err != nil {
		return nil, err
	}
	cc.HostKeyAlgorithms = p.algorithms()
	fingerprintOnly := p.key == nil // the pin names no key type
	pinned := p.callback(addr)
	cc.HostKeyCallback = func(h string, a net.Addr, key ssh.PublicKey) error {
		seen = key
		return pinned(h, a, key)
	}
	if len(cfg.PrivateKey) > 0 {
		signer, err := parsePrivateKey(cfg.PrivateKey, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		cc.Auth = append(cc.Auth, ssh.PublicKeys(signer))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		cc.Auth = append(cc.Auth,
			ssh.Password(pw),
			ssh.RetryableAuthMethod(ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}), 2))
	}

	c, err := dialOnce(ctx, cfg, addr, cc)
	var mismatch *HostKeyMismatchError
	if err != nil && fingerprintOnly && errors.As(err, &mismatch) {
		c, err = dialOtherHostKeys(ctx, cfg, addr, cc, mismatch)
	}
	if err != nil {
		return nil, err
	}
	c.cfg = cfg
	c.hostKey = seen
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.watchdog()
	cfg.Logger.Debug("sftp connected", "addr", addr, "user", cfg.Username,
		"host_key", ssh.FingerprintSHA256(seen))
	return c, nil
}

// dialOnce connects and completes the SSH handshake and the SFTP session
// start within cfg.HandshakeTimeout and ctx, and maps the failures to this
// package's errors.
func dialOnce(ctx context.Context, cfg Config, addr string, cc *ssh.ClientConfig) (*Client, error) {
	conn, err := connect(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	_ = conn.SetDeadline(deadline)
	var cancelled atomic.Bool
	stopAfter := context.AfterFunc(ctx, func() {
		cancelled.Store(true)
		_ = conn.SetDeadline(time.Unix(1, 0)) // unblocks the handshake now
	})

	c, err := handshake(conn, addr, cc)
	stopped := stopAfter()
	if err == nil && !stopped {
		err = ctx.Err()
		c.closeTransport()
	}
	if err != nil {
		_ = conn.Close()
		var mismatch *HostKeyMismatchError
		switch {
		case errors.As(err, &mismatch):
			return nil, mismatch
		case cancelled.Load():
			return nil, fmt.Errorf("sftp: connecting to %s: %w", addr, ctx.Err())
		case !conn.spokeSSH():
			return nil, noServer(cfg, addr, err)
		case isTimeout(err):
			return nil, fmt.Errorf("%w: %s did not complete the handshake within %s", ErrTimeout, addr, cfg.HandshakeTimeout)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%w: %s as %q: %v", ErrAuth, addr, cfg.Username, err)
		}
		return nil, fmt.Errorf("sftp: connecting to %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// hostKeyFamilies are the host key algorithms a server may hold one key of
// each.
var hostKeyFamilies = []struct {
	name  string
	algos []string
}{
	{"ed25519", []string{ssh.KeyAlgoED25519}},
	{"ecdsa", []string{ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521}},
	{"rsa", []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
}

func hostKeyFamily(keyType string) string {
	switch {
	case keyType == ssh.KeyAlgoED25519:
		return "ed25519"
	case strings.HasPrefix(keyType, "ecdsa-"):
		return "ecdsa"
	case keyType == ssh.KeyAlgoRSA:
		return "rsa"
	}
	return keyType
}

// dialOtherHostKeys is for a pin that is a bare fingerprint, which does not
// say the key's type: the server presented another of its host keys than
// the pinned one (most servers have an ed25519, an ECDSA and an RSA key), so
// ask for each other type in turn. It returns the first connection whose
// key matches, else the mismatch listing every key the server offered.
func dialOtherHostKeys(ctx context.Context, cfg Config, addr string, cc *ssh.ClientConfig, first *HostKeyMismatchError) (*Client, error) {
	tried := map[string]bool{hostKeyFamily(first.Key.Type()): true}
	for _, fam := range hostKeyFamilies {
		if tried[fam.name] {
			continue
		}
		tried[fam.name] = true
		again := *cc
		again.HostKeyAlgorithms = fam.algos
		c, err := dialOnce(ctx, cfg, addr, &again)
		if err == nil {
			return c, nil
		}
		var m *HostKeyMismatchError
		switch {
		case errors.As(err, &m):
			first.Others = append(first.Others, m.Key.Type()+" "+m.Got)
		case strings.Contains(err.Error(), "no common algorithm for host key"):
			// The server has no key of this type.
		default:
			return nil, err
		}
	}
	return nil, first
}

func handshake(conn *activityConn, addr string, cc *ssh.ClientConfig) (*Client, error) {
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cc)
	if err != nil {
		return nil, err
	}
	sshClient := ssh.NewClient(sc, chans, reqs)
	// pkg/sftp's defaults: 32 KiB packets, 64 concurrent reads per file.
	sftpClient, err := sftp.NewClient(sshClient)
	if err != nil {
		_ = sshClient.Close()
		return nil, fmt.Errorf("starting sftp subsystem: %w", err)
	}
	return &Client{conn: conn, ssh: sshClient, sftp: sftpClient}, nil
}

func parsePrivateKey(key, passphrase []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(key)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("%w: the key is encrypted and no passphrase is set", ErrPrivateKey)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(key, passphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPrivateKey, err)
	}
	return signer, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// HostKey is the key the server presented.
func (c *Client) HostKey() ssh.PublicKey { return c.hostKey }

// Close ends the SFTP session and the connection. It is idempotent.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	<-c.done
	c.pings.Wait()
	if c.onClose != nil {
		c.onClose()
	}
	return nil
}

func (c *Client) closeTransport() {
	// The socket first: closing the SFTP session sends messages, which
	// would block forever on a server that stopped reading.
	_ = c.conn.Close()
	_ = c.sftp.Close()
	_ = c.ssh.Close()
}

// shutdown closes the connection once, remembering why.
func (c *Client) shutdown(reason error) {
	c.closeOnce.Do(func() {
		c.reason.Store(&reason)
		close(c.stop)
		c.closeTransport()
	})
}

// watchdog sends keepalives and closes the connection when the server has
// been silent for longer than IdleTimeout.
func (c *Client) watchdog() {
	defer close(c.done)
	tick := time.NewTicker(c.cfg.KeepaliveInterval / 2)
	defer tick.Stop()
	lastPing := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			if silent := now.Sub(c.conn.lastRead()); silent > c.cfg.IdleTimeout {
				c.cfg.Logger.Warn("sftp server silent, closing connection", "silent", silent.String())
				c.shutdown(fmt.Errorf("%w: no answer for %s", ErrTimeout, silent.Round(time.Millisecond)))
				return
			}
			if now.Sub(lastPing) >= c.cfg.KeepaliveInterval && c.pinging.CompareAndSwap(false, true) {
				lastPing = now
				// The reply is read by the connection's reader, which
				// touches lastRead; do not wait for it here. At most one
				// keepalive is in flight; closing the connection ends it.
				c.pings.Add(1)
				go func() {
					defer c.pings.Done()
					defer c.pinging.Store(false)
					_, _, _ = c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				}()
			}
		}
	}
}

// activityConn records when bytes last arrived from the server, and
// whether the server's first bytes were an SSH version line.
type activityConn struct {
	net.Conn
	last  atomic.Int64 // unix nanoseconds
	head  []byte       // the first bytes read, up to len("SSH-"); one reader at a time
	spoke atomic.Bool
}

func (a *activityConn) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if n > 0 {
		a.touch()
		if missing := len(sshBanner) - len(a.head); missing > 0 {
			a.head = append(a.head, p[:min(n, missing)]...)
			a.spoke.Store(string(a.head) == sshBanner)
		}
	}
	return n, err
}

// sshBanner starts the version line every SSH server sends first.
const sshBanner = "SSH-"

// spokeSSH reports whether the server started with an SSH version line.
func (a *activityConn) spokeSSH() bool { return a.spoke.Load() }

func (a *activityConn) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityConn) lastRead() time.Time { return time.Unix(0, a.last.Load()) }

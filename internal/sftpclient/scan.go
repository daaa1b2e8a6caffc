package sftpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

var errScanned = errors.New("host key scanned")

// ScanHostKey connects to cfg.Host and cfg.Port through cfg.Dialer, reads
// the server's host key and hangs up before logging in, like ssh-keyscan:
// no credential of cfg is used or sent. The "test connection" API call
// uses it on a server that is not pinned yet, to show the key
// (AuthorizedKey, ssh.FingerprintSHA256) for the user to pin. The whole
// exchange takes at most cfg.HandshakeTimeout; nothing that speaks SSH
// there is ErrNoSSHServer.
func ScanHostKey(ctx context.Context, cfg Config) (ssh.PublicKey, error) {
	cfg = cfg.WithDefaults()
	if cfg.Host == "" {
		return nil, errors.New("sftp config: host is required")
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	conn, err := connect(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var key ssh.PublicKey
	_, _, _, err = ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: "brazesync-keyscan",
		// The key exchange ends here, before the user authentication
		// that Auth (empty) would start.
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errScanned
		},
	})
	switch {
	case key != nil:
		return key, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("sftp: scanning host key of %s: %w", addr, ctx.Err())
	case !conn.spokeSSH():
		return nil, noServer(cfg, addr, err)
	case isTimeout(err):
		return nil, fmt.Errorf("%w: %s sent no host key within %s", ErrTimeout, addr, cfg.HandshakeTimeout)
	}
	return nil, fmt.Errorf("sftp: scanning host key of %s: %w", addr, err)
}

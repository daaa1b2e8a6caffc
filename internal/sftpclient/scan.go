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

// ScanHostKey connects to host:port, reads the server's host key and hangs
// up before logging in, like ssh-keyscan. The "test connection" API call
// uses it to show the key (AuthorizedKey, ssh.FingerprintSHA256) for the
// user to pin, whatever the credentials. timeout <= 0 means
// HandshakeTimeoutDefault.
func ScanHostKey(ctx context.Context, host string, port int, timeout time.Duration) (ssh.PublicKey, error) {
	if timeout <= 0 {
		timeout = HandshakeTimeoutDefault
	}
	if port == 0 {
		port = PortDefault
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sftp: connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var key ssh.PublicKey
	_, _, _, err = ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: "brazesync-keyscan",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errScanned
		},
	})
	if key != nil {
		return key, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("sftp: scanning host key of %s: %w", addr, ctx.Err())
	}
	if isTimeout(err) {
		return nil, fmt.Errorf("%w: %s sent no host key within %s", ErrTimeout, addr, timeout)
	}
	return nil, fmt.Errorf("sftp: scanning host key of %s: %w", addr, err)
}

package sftpclient

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/brazesync/brazesync/internal/egress"
)

// Dialer opens TCP connections: an egress policy's *egress.Dialer, or a
// *net.Dialer for a server the operator configured.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// ErrNoSSHServer means nothing at the address spoke SSH: the connection
// was refused, reset or closed, or whatever answered sent something else
// than an SSH version line, or nothing within the handshake timeout. The
// error does not say which (a closed port and an open port of another
// service read the same), so that connection tests cannot map a network;
// the operator's debug log has the cause.
var ErrNoSSHServer = errors.New("no SSH server answered")

// noServerError is ErrNoSSHServer at an address; it is also ErrTimeout
// when the deadline passed.
type noServerError struct {
	addr     string
	timedOut bool
}

func (e *noServerError) Error() string {
	return fmt.Sprintf("%s at %s", ErrNoSSHServer.Error(), e.addr)
}

func (e *noServerError) Is(target error) bool {
	return target == ErrNoSSHServer || (e.timedOut && target == ErrTimeout)
}

func noServer(cfg Config, addr string, cause error) error {
	cfg.Logger.Debug("no ssh server answered", "addr", addr, "cause", cause.Error())
	return &noServerError{addr: addr, timedOut: isTimeout(cause)}
}

// connect opens the TCP connection to addr within cfg.HandshakeTimeout and
// ctx, through cfg.Dialer.
func connect(ctx context.Context, cfg Config, addr string) (*activityConn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	var d Dialer = &net.Dialer{}
	if cfg.Dialer != nil {
		d = cfg.Dialer
	}
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		var dns *net.DNSError
		switch {
		case errors.Is(err, egress.ErrForbidden):
			return nil, err
		case ctx.Err() != nil:
			return nil, fmt.Errorf("sftp: connecting to %s: %w", addr, ctx.Err())
		case errors.As(err, &dns) && !isTimeout(err):
			// Without the resolver's address, which is the operator's.
			return nil, fmt.Errorf("sftp: connecting to %s: cannot resolve %s: %s", addr, dns.Name, dns.Err)
		}
		return nil, noServer(cfg, addr, err)
	}
	conn := &activityConn{Conn: raw}
	conn.touch()
	return conn, nil
}

package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Errors of Conn.
var (
	// ErrUntrusted: a peer that is not trusted sent a PROXY header.
	ErrUntrusted = errors.New("proxyproto: PROXY header from a peer that is not a trusted proxy")
	// ErrMissing: a trusted peer sent no PROXY header.
	ErrMissing = errors.New("proxyproto: trusted proxy sent no PROXY header")
)

// Conn is an accepted connection whose first Read settles the PROXY
// header: from a trusted peer it must start with one, and RemoteAddr is
// then the client address the header names; from any other peer a header
// is refused. Either refusal is returned by every Read, so a protocol
// server on top (SSH) fails its handshake. Nothing is read before the
// first Read, so a server may send its greeting first.
type Conn struct {
	net.Conn
	trusted bool
	r       *bufio.Reader

	once   sync.Once
	mu     sync.Mutex
	err    error
	remote net.Addr
	header *Header
}

// NewConn wraps c, accepted from a peer that trusted says whether to
// believe.
func NewConn(c net.Conn, trusted Trusted) *Conn {
	return &Conn{Conn: c, trusted: trusted.Contains(c.RemoteAddr()), r: bufio.NewReader(c)}
}

// Read reads from the connection after its PROXY header.
func (c *Conn) Read(p []byte) (int, error) {
	c.once.Do(c.settle)
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *Conn) settle() {
	var (
		h   *Header
		err error
	)
	if c.trusted {
		h, err = Read(c.r)
		if errors.Is(err, ErrNoHeader) {
			err = ErrMissing
		}
	} else if _, derr := detect(c.r); derr == nil {
		err = ErrUntrusted
	} else if !errors.Is(derr, ErrNoHeader) {
		err = derr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.err = fmt.Errorf("from %s: %w", c.Conn.RemoteAddr(), err)
		return
	}
	c.header = h
	if h != nil && h.Source.IsValid() {
		c.remote = net.TCPAddrFromAddrPort(h.Source)
	}
}

// RemoteAddr is the client address named by the PROXY header once it has
// been read, else the peer's own address.
func (c *Conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Header is the PROXY header read (nil before the first Read, for a peer
// that is not trusted, and after a refusal).
func (c *Conn) Header() *Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header
}

// Err is the refusal of the connection's PROXY header, if any:
// ErrUntrusted, ErrMissing or ErrInvalid. A peer that hung up, or a read
// that failed, before the header was settled is not a refusal (a load
// balancer's health check connects and closes); Read still returns its
// error.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(c.err, ErrUntrusted) || errors.Is(c.err, ErrMissing) || errors.Is(c.err, ErrInvalid) {
		return c.err
	}
	return nil
}

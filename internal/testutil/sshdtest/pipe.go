package sshdtest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/tcpforward"
)

// Proxy is a TCP forwarder in front of a server that can be frozen: once
// frozen it stops passing bytes in both directions while keeping the
// connections open, like a server or network that goes silent.
type Proxy struct {
	// Addr is the host:port to dial instead of the target.
	Addr string

	fwd    *tcpforward.Forwarder
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
	thawed bool
}

// NewProxy forwards a fresh 127.0.0.1 port to target until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{thaw: make(chan struct{})}
	f, err := tcpforward.Listen(target, p.pump)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	p.Addr, p.fwd = f.Addr, f
	t.Cleanup(p.close)
	return p
}

// Freeze stops forwarding; pending and future bytes are held back.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

func (p *Proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			thaw := p.thaw
			p.mu.Unlock()
			if frozen {
				<-thaw // held until the proxy closes
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}

// close releases the pumps held by Freeze, then closes the forwarder.
func (p *Proxy) close() {
	p.mu.Lock()
	if !p.thawed {
		p.thawed = true
		close(p.thaw)
	}
	p.mu.Unlock()
	p.fwd.Close()
}

// SilentListener accepts TCP connections and never says a word; it stands
// for a server that hangs before the SSH banner. Closed when the test ends.
func SilentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

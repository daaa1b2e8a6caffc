// Package tcpforward forwards a fresh 127.0.0.1 port to a target address
// and hands each direction of each connection to a caller's pump, which
// decides how bytes cross (delayed, held back, ...). Benchmarks and tests
// put it in front of a server to change what the network looks like.
package tcpforward

import (
	"fmt"
	"net"
	"sync"
)

// Pump copies src to dst until either fails; it returns when it is done
// with both.
type Pump func(dst, src net.Conn)

// Forwarder accepts connections on Addr, dials the target for each and runs
// a pump in each direction.
type Forwarder struct {
	// Addr is the host:port the forwarder listens on.
	Addr string

	ln     net.Listener
	target string
	pump   Pump

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// Listen forwards a fresh 127.0.0.1 port to target through pump until Close.
func Listen(target string, pump Pump) (*Forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpforward: %w", err)
	}
	f := &Forwarder{Addr: ln.Addr().String(), ln: ln, target: target, pump: pump}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			_ = c.Close() // the client sees the target refuse
			continue
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			return
		}
		f.conns = append(f.conns, c, up)
		f.wg.Add(2)
		f.mu.Unlock()
		go f.run(up, c)
		go f.run(c, up)
	}
}

func (f *Forwarder) run(dst, src net.Conn) {
	defer f.wg.Done()
	f.pump(dst, src)
}

// Close stops the listener, closes every connection and waits for the
// pumps to return. A pump blocked on something other than its connections
// must be released before Close.
func (f *Forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	conns := f.conns
	f.mu.Unlock()
	_ = f.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	f.wg.Wait()
}

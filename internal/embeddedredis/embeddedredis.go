// Package embeddedredis is the in-memory Redis of `brazesync dev` when no
// REDIS_URL is set: miniredis on a loopback port, with a clock that follows
// real time (so TTLs expire) and the commands brazesync sends that
// miniredis lacks (BITFIELD and BITFIELD_RO, limited to the GET and SET
// operations brazesync uses).
package embeddedredis

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running embedded Redis.
type Server struct {
	m        *miniredis.Miniredis
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Start starts an embedded Redis on a free loopback port.
func Start() (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("starting embedded Redis: %w", err)
	}
	if err := registerBitfield(m); err != nil {
		m.Close()
		return nil, err
	}
	s := &Server{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	go s.tick()
	return s, nil
}

// tick moves miniredis' clock with real time, so keys with a TTL expire.
func (s *Server) tick() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.m.SetTime(now)
			s.m.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.m.Addr() }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.m.Addr() }

// Close stops the server; everything it held is gone. It is safe to call
// more than once.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.m.Close()
	})
}

package brazesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace is how long Stop lets requests in flight finish.
const shutdownGrace = 5 * time.Second

// Server serves a Sim on a TCP address (the braze-sim subcommand and
// brazesync dev). Start and Stop follow the lifecycle of every long-running
// brazesync component.
type Server struct {
	addr string
	sim  *Sim
	log  *slog.Logger

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	done    chan struct{} // closed when Serve returns
	stopped bool
}

// NewServer returns a Server that will serve sim on addr (e.g. ":9090";
// "127.0.0.1:0" picks a free port, see Addr).
func NewServer(addr string, sim *Sim, logger *slog.Logger) *Server {
	if logger == nil {
		logger = sim.log
	}
	return &Server{addr: addr, sim: sim, log: logger.With("component", "brazesim")}
}

// Start listens on the address and serves in the background. It returns once
// the listener is open, or the error of opening it. The server also stops
// when ctx ends. Starting twice, or after Stop, is an error.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("brazesim server: start after stop")
	}
	if s.srv != nil {
		return errors.New("brazesim server: already started")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening on %q: %w", s.addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.sim,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("braze simulator stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-done:
		}
	}()
	s.log.Info("braze simulator listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Stop closes the listener, releases requests held by timeout faults, lets
// other requests finish for a few seconds and returns when serving has
// ended. It is idempotent and safe before Start.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return
	}
	s.sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	<-done
}

// Package sftpd is brazesync's managed SFTP server.
//
// Customers with an sftp_managed authorization upload Braze CSV exports to
// it; every completed upload is reported to an UploadHook so that an import
// can be enqueued. Users live in Redis (UserStore); each is confined to its
// own directory DATA_DIR/sftp/<account>/<username> through os.Root. All
// replicas share one host key (sealed in Redis) and one brute-force guard.
package sftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"
)

// Options are a Server's collaborators.
type Options struct {
	// Sealer seals the host key in Redis. Required.
	Sealer Sealer
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// OnUpload is called after each completed upload; nil for none.
	OnUpload UploadHook
}

// Server is the managed SFTP server. Build it with NewServer, run it with
// Start and end it with Stop.
type Server struct {
	cfg      Config
	rdb      redis.UniversalClient
	keys     keys
	users    *UserStore
	guard    *guard
	metrics  *metrics
	logger   *slog.Logger
	sealer   Sealer
	onUpload UploadHook
	quotas   *quotas

	mu       sync.Mutex
	started  bool
	stopped  bool
	draining bool
	ln       net.Listener
	conns    map[net.Conn]struct{}
	sessions map[*quietChannel]struct{}
	hostKey  ssh.Signer
	ctx      context.Context // ends when the server stops
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the accept loop and every connection
	active   int            // uploads in progress
	idle     chan struct{}  // closed when active drops to zero while draining
	stopErr  error
}

// NewServer returns a server for the users in rdb under namespace ns.
func NewServer(rdb redis.UniversalClient, ns keyspace.Namespace, cfg Config, opts Options) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if rdb == nil {
		return nil, errors.New("sftpd: a Redis client is required")
	}
	if opts.Sealer == nil {
		return nil, errors.New("sftpd: Options.Sealer is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("component", "sftpd"))
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	users, err := NewUserStore(rdb, ns, cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		rdb:      rdb,
		keys:     keys{ns},
		users:    users,
		metrics:  m,
		logger:   logger,
		sealer:   opts.Sealer,
		onUpload: opts.OnUpload,
		quotas:   &quotas{maxBytes: cfg.QuotaBytes, maxFiles: cfg.QuotaFiles, m: map[string]*quota{}},
		conns:    map[net.Conn]struct{}{},
		sessions: map[*quietChannel]struct{}{},
	}
	s.guard = &guard{rdb: rdb, keys: s.keys, cfg: cfg, metrics: m, logger: logger}
	return s, nil
}

// Users returns the server's user store.
func (s *Server) Users() *UserStore { return s.users }

// UserDir is the directory that holds the files of username in account
// acct: DataDir/sftp/<acct>/<username>.
func (s *Server) UserDir(acct, username string) (string, error) {
	return UserDir(s.cfg.DataDir, acct, username)
}

// UserDir is the directory under dataDir that holds the files of username
// in account acct.
func UserDir(dataDir, acct, username string) (string, error) {
	if !validAccount(acct) {
		return "", fmt.Errorf("user directory of account %q: %w", acct, ErrBadAccount)
	}
	if !usernamePattern.MatchString(username) {
		return "", fmt.Errorf("user directory of %q: %w", username, ErrNoUser)
	}
	return filepath.Join(dataDir, "sftp", acct, username), nil
}

// RemoveUserFiles deletes the directory of username in account acct.
func RemoveUserFiles(dataDir, acct, username string) error {
	dir, err := UserDir(dataDir, acct, username)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing files of sftp user %q: %w", username, err)
	}
	return nil
}

// Start loads (or creates) the shared host key, listens on Config.Addr and
// serves connections until Stop. It fails if the server was started or
// stopped before.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("sftpd: server already started or stopped")
	}
	hostKey, err := loadHostKey(ctx, s.rdb, s.keys, s.sealer)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %q: %w", s.cfg.Addr, err)
	}
	s.hostKey = hostKey
	s.ln = ln
	s.started = true
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	config := s.sshConfig()
	s.wg.Add(1)
	go s.acceptLoop(ln, config)
	s.logger.LogAttrs(ctx, slog.LevelInfo, "sftp server listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("host_key", ssh.FingerprintSHA256(hostKey.PublicKey())))
	return nil
}

// Addr is the address the server listens on (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// HostKey is the server's public host key (nil before Start).
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hostKey == nil {
		return nil
	}
	return s.hostKey.PublicKey()
}

// HostKeyFingerprint is the SHA256 fingerprint of the host key
// ("SHA256:..."), what customers pin; empty before Start.
func (s *Server) HostKeyFingerprint() string {
	if k := s.HostKey(); k != nil {
		return ssh.FingerprintSHA256(k)
	}
	return ""
}

// HostKeyFingerprint loads (or creates) the host key shared by all replicas
// and returns its SHA256 fingerprint, without starting a server; the API can
// show it with an sftp_managed authorization.
func HostKeyFingerprint(ctx context.Context, rdb redis.UniversalClient, ns keyspace.Namespace, sealer Sealer) (string, error) {
	k, err := loadHostKey(ctx, rdb, keys{ns}, sealer)
	if err != nil {
		return "", err
	}
	return ssh.FingerprintSHA256(k.PublicKey()), nil
}

func (s *Server) acceptLoop(ln net.Listener, config *ssh.ServerConfig) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary trouble (e.g. out of file descriptors): back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.LogAttrs(s.ctx, slog.LevelError, "accepting sftp connection",
				slog.String("error", err.Error()), slog.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
				continue
			case <-s.ctx.Done():
				return
			}
		}
		backoff = 0
		if ok, full := s.track(conn); !ok {
			if full {
				s.metrics.refused.Inc()
				s.logger.LogAttrs(s.ctx, slog.LevelWarn, "sftp connection refused: too many connections",
					slog.String("remote_ip", remoteIP(conn.RemoteAddr())), slog.Int("max_connections", s.cfg.MaxConnections))
			}
			_ = conn.Close()
			continue
		}
		s.metrics.connections.Inc()
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.serveConn(conn, config)
		}()
	}
}

// track records a connection so that Stop can close it; it refuses new
// connections once stopping, or (full) when MaxConnections are open.
func (s *Server) track(c net.Conn) (ok, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false, false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		return false, true
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true, false
}

func (s *Server) untrack(c net.Conn) {
	_ = c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// beginUpload counts an upload in progress; it refuses while stopping.
func (s *Server) beginUpload() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.stopped {
		return false
	}
	s.active++
	return true
}

func (s *Server) endUpload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// Stop stops accepting connections, lets uploads in progress finish for up
// to Config.ShutdownTimeout (or until ctx ends), then closes every
// connection; an upload still open then is removed, never renamed into
// place. Stop returns once every connection is closed. It is idempotent and
// safe to call before Start; it returns ctx's error if ctx cut the wait
// short.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.wg.Wait()
		return s.stopErr
	}
	s.stopped = true
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	s.draining = true
	_ = s.ln.Close()
	var idle chan struct{}
	if s.active > 0 {
		idle = make(chan struct{})
		s.idle = idle
	}
	active := s.active
	s.mu.Unlock()

	var stopErr error
	waitCtx, cancelWait := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	if idle != nil {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "sftp server stopping: waiting for uploads",
			slog.Int("uploads", active), slog.Duration("timeout", s.cfg.ShutdownTimeout))
		select {
		case <-idle:
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				stopErr = fmt.Errorf("stopping sftp server: %w", ctx.Err())
			} else {
				s.logger.LogAttrs(ctx, slog.LevelWarn, "sftp server stopping: uploads still in progress are dropped")
			}
		}
	}
	// Let every session answer what it has read (the close of a finished
	// upload above all) before its connection goes.
	s.mu.Lock()
	sessions := make([]*quietChannel, 0, len(s.sessions))
	for qc := range s.sessions {
		sessions = append(sessions, qc)
	}
	s.mu.Unlock()
	for _, qc := range sessions {
		qc.waitQuiet(waitCtx)
	}
	cancelWait()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.stopErr = stopErr
	s.mu.Unlock()
	s.wg.Wait()
	s.logger.LogAttrs(ctx, slog.LevelInfo, "sftp server stopped")
	return stopErr
}

func (s *Server) addSession(qc *quietChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[qc] = struct{}{}
}

func (s *Server) removeSession(qc *quietChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, qc)
}

// fireUploadHook calls the upload hook for a completed upload.
func (s *Server) fireUploadHook(u User, p string) {
	if s.onUpload == nil {
		return
	}
	ctx := context.Background()
	if s.ctx != nil {
		ctx = context.WithoutCancel(s.ctx)
	}
	if s.cfg.UploadHookTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.UploadHookTimeout)
		defer cancel()
	}
	s.onUpload(ctx, Upload{Account: u.Account, Username: u.Username, AuthID: u.AuthID, Path: p})
}

package sftpd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/brazesync/brazesync/internal/proxyproto"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// serveConn runs one TCP connection: the PROXY protocol header where the
// peer is a trusted proxy, the SSH handshake within HandshakeTimeout, then
// its session channels.
func (s *Server) serveConn(conn net.Conn, config *ssh.ServerConfig) {
	_ = conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	pc := proxyproto.NewConn(conn, s.cfg.TrustedProxies)
	sconn, chans, reqs, err := ssh.NewServerConn(pc, config)
	if err != nil {
		if perr := pc.Err(); perr != nil {
			s.metrics.proxyRefused.Inc()
			s.logger.LogAttrs(s.ctx, slog.LevelWarn, "sftp connection refused: PROXY protocol",
				slog.String("peer_ip", remoteIP(conn.RemoteAddr())), slog.String("error", perr.Error()))
		} else if !errors.Is(err, io.EOF) {
			s.logger.LogAttrs(s.ctx, slog.LevelDebug, "sftp handshake failed",
				slog.String("remote_ip", remoteIP(pc.RemoteAddr())), slog.String("error", err.Error()))
		}
		return
	}
	ip := remoteIP(pc.RemoteAddr())
	defer sconn.Close()
	_ = conn.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)

	u := User{Account: sconn.Permissions.Extensions[extAccount], Username: sconn.Permissions.Extensions[extUsername], AuthID: sconn.Permissions.Extensions[extAuthID]}
	s.metrics.sessions.Inc()
	defer s.metrics.sessions.Dec()

	// A logged-in connection without an SFTP session is closed after
	// IdleTimeout too (an SFTP session watches its own idleness).
	cs := &connState{}
	cs.idleSince.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	go cs.closeWhenIdle(conn, s.cfg.IdleTimeout, done)

	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveSession(conn, cs, u, ip, ch, chReqs)
		}()
	}
}

// serveSession answers a session channel's requests: only the sftp subsystem
// is offered; shells, commands and terminals are refused.
func (s *Server) serveSession(conn net.Conn, cs *connState, u User, ip string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	for req := range reqs {
		ok := !started && req.Type == "subsystem" && subsystemName(req.Payload) == "sftp"
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if !ok {
			continue
		}
		started = true
		go ssh.DiscardRequests(reqs)
		cs.sessions.Add(1)
		defer func() {
			cs.idleSince.Store(time.Now().UnixNano())
			cs.sessions.Add(-1)
		}()
		if err := s.serveSFTP(conn, u, ip, ch); err != nil {
			s.logger.LogAttrs(s.ctx, slog.LevelWarn, "sftp session ended with an error",
				slog.String("account", u.Account), slog.String("username", u.Username),
				slog.String("remote_ip", ip), slog.String("error", err.Error()))
		}
		return
	}
}

// connState tracks whether a connection has SFTP sessions.
type connState struct {
	sessions  atomic.Int32
	idleSince atomic.Int64 // unix nanoseconds since when it has had none
}

// closeWhenIdle closes conn once it has had no SFTP session for timeout,
// checking every timeout/4, until done is closed.
func (cs *connState) closeWhenIdle(conn net.Conn, timeout time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(max(timeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if cs.sessions.Load() == 0 && now.Sub(time.Unix(0, cs.idleSince.Load())) >= timeout {
				_ = conn.Close()
				return
			}
		}
	}
}

func subsystemName(payload []byte) string {
	var msg struct{ Name string }
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return ""
	}
	return msg.Name
}

// serveSFTP serves the SFTP protocol on ch, inside the user's directory.
// An idle session closes its whole connection (conn).
func (s *Server) serveSFTP(conn net.Conn, u User, ip string, ch ssh.Channel) error {
	dir, err := s.UserDir(u.Account, u.Username)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating user directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening user directory: %w", err)
	}
	defer root.Close()
	q := s.quotas.acquire(u.Account, u.Username)
	defer s.quotas.release(u.Account, u.Username)
	ufs := &userFS{srv: s, user: u, root: root, quota: q, writing: map[string]int{}}
	qc := newQuietChannel(ch)
	s.addSession(qc)
	defer s.removeSession(qc)
	// The allocator reuses packet buffers instead of allocating one per
	// packet: about a quarter less CPU per upload (garbage collection).
	// It relies on the handlers keeping no slice beyond the call, which
	// userFS and upload do not.
	rs := sftp.NewRequestServer(qc, ufs.handlers(), sftp.WithRSAllocator())
	done := make(chan struct{})
	defer close(done)
	go qc.closeWhenIdle(s.cfg.IdleTimeout, done, func() {
		s.logger.LogAttrs(s.ctx, slog.LevelInfo, "sftp session idle: closing",
			slog.String("account", u.Account), slog.String("username", u.Username),
			slog.String("remote_ip", ip), slog.Duration("idle_timeout", s.cfg.IdleTimeout))
		_ = conn.Close()
	})
	err = rs.Serve()
	_ = rs.Close()
	if err == nil || errors.Is(err, io.EOF) {
		// The client ended the session: report a clean exit as sshd does.
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		return nil
	}
	return err
}

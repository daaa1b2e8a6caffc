package sftpd

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"
)

// TestReplicasShareHostKey: servers started at once on the same Redis agree
// on one host key, which survives restarts and is sealed at rest.
func TestReplicasShareHostKey(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	first := b.start(t)
	var wg sync.WaitGroup
	servers := make([]*Server, 4)
	errs := make([]error, 4)
	for i := range servers {
		srv, err := NewServer(b.rdb, b.ns, b.cfg, Options{Sealer: b.sealer, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = srv
		t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	}
	for i, srv := range servers {
		wg.Go(func() { errs[i] = srv.Start(t.Context()) })
	}
	wg.Wait()
	for i, srv := range servers {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		if srv.HostKeyFingerprint() != first.HostKeyFingerprint() {
			t.Errorf("replica %d host key %s, want %s", i, srv.HostKeyFingerprint(), first.HostKeyFingerprint())
		}
	}
	fp, err := HostKeyFingerprint(t.Context(), b.rdb, b.ns, b.sealer)
	if err != nil || fp != first.HostKeyFingerprint() {
		t.Errorf("HostKeyFingerprint = %q, %v; want %q", fp, err, first.HostKeyFingerprint())
	}
	stored, err := b.rdb.Get(t.Context(), keys{b.ns}.hostKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(stored), []byte("PRIVATE KEY")) || len(stored) < 40 {
		t.Errorf("host key not sealed at rest: %q", stored)
	}
	// A client pins the key of one replica and connects to another.
	u := newUser(t, first, "acct-hostkey")
	conn, err := ssh.Dial("tcp", servers[2].Addr().String(), &ssh.ClientConfig{
		User: u.username, Auth: []ssh.AuthMethod{sshKey(u)},
		HostKeyCallback: ssh.FixedHostKey(first.HostKey()),
	})
	if err != nil {
		t.Fatalf("pinned host key refused by another replica: %v", err)
	}
	_ = conn.Close()
}

// TestWrongSealerRefusesToStart: a replica that cannot open the stored key
// does not invent a new one.
func TestWrongSealerRefusesToStart(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	srv, err := NewServer(b.rdb, b.ns, b.cfg, Options{Sealer: newBoxSealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil {
		_ = srv.Stop(context.Background())
		t.Fatal("started with a host key it cannot open")
	}
}

// TestStopBeforeStartAndTwice: Stop is safe before Start and idempotent,
// and a stopped server does not start.
func TestStopBeforeStartAndTwice(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	srv, err := NewServer(b.rdb, b.ns, b.cfg, Options{Sealer: b.sealer})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}

	running := b.start(t)
	addr := running.Addr().String()
	if err := running.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := running.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Error("still accepting after Stop")
	}
}

// TestGracefulStop: Stop lets an upload in progress finish and keeps it,
// refuses new uploads meanwhile, and removes an upload still open when the
// shutdown timeout ends.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) { c.ShutdownTimeout = time.Minute })
	u := newUser(t, srv, "acct-stop")
	c := u.keyClient(t, srv)
	f, err := c.Create("finishing.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("part one,")); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	poll.Until(t, 5*time.Second, "server draining", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.draining
	})
	if _, err := c.Create("late.csv"); err == nil {
		t.Error("new upload accepted while stopping")
	}
	if _, err := f.Write([]byte("part two\n")); err != nil {
		t.Fatalf("upload in progress cut off: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned with an upload in progress: %v", err)
	default:
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close during drain: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	data, err := os.ReadFile(u.dir(t, srv) + "/finishing.csv")
	if err != nil || string(data) != "part one,part two\n" {
		t.Fatalf("finished upload: %q, %v", data, err)
	}
	if ev := b.waitUpload(t, time.Second); ev.path != "/finishing.csv" {
		t.Errorf("hook path %q", ev.path)
	}
}

// TestStopTimeoutDropsPartialUpload: an upload still open when the shutdown
// timeout ends is removed, never renamed into place.
func TestStopTimeoutDropsPartialUpload(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) { c.ShutdownTimeout = 200 * time.Millisecond })
	u := newUser(t, srv, "acct-stop2")
	c := u.keyClient(t, srv)
	f, err := c.Create("never.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("n"), 70000)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stop returns once the connections are gone and the partial removed.
	entries, _ := os.ReadDir(u.dir(t, srv))
	if len(entries) != 0 {
		t.Errorf("left on disk after Stop: %v", entries)
	}
	if err := f.Close(); err == nil {
		t.Error("close after Stop succeeded")
	}
	select {
	case ev := <-b.uploads:
		t.Errorf("hook fired for a dropped upload: %v", ev)
	default:
	}
}

// TestHandshakeDeadline: a client that connects and says nothing is
// disconnected after HandshakeTimeout.
func TestHandshakeDeadline(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.HandshakeTimeout = time.Second })
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, conn) // the server's banner, then EOF
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("closed after %s, want about 1s", d)
	}
}

// TestIdleSessionClosed: a session that exchanges nothing for IdleTimeout
// is closed; one that keeps talking is not.
func TestIdleSessionClosed(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.IdleTimeout = time.Second })
	u := newUser(t, srv, "acct-idle")
	busy := u.keyClient(t, srv)
	idle := u.keyClient(t, srv)
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		if _, err := busy.Getwd(); err != nil {
			t.Fatalf("a busy session was closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // pacing a client that keeps talking
	}
	if _, err := idle.Getwd(); err == nil {
		t.Error("an idle session is still open after 2.5s with a 1s idle timeout")
	}
}

// TestIdleConnectionWithoutSessionClosed: a client that logs in and opens
// no SFTP session is disconnected after IdleTimeout.
func TestIdleConnectionWithoutSessionClosed(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.IdleTimeout = 500 * time.Millisecond })
	u := newUser(t, srv, "acct-nosession")
	conn, err := dialSSH(t, srv, u.username, sshKey(u))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan error, 1)
	go func() { closed <- conn.Wait() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("a connection without a session stayed open for 10s with a 500ms idle timeout")
	}
}

// TestMaxConnections: connections beyond MaxConnections are closed at once
// and counted; once one closes there is room again.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) { c.MaxConnections = 2 })
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Wait for the server's banner: the connection is being served.
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "SSH-" {
			t.Fatalf("no banner: %q %v", buf, err)
		}
		open = append(open, c)
	}
	extra, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 64)); err == nil || n > 0 {
		t.Fatalf("third connection served (read %d bytes, err %v)", n, err)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_connections_refused_total", nil); got != 1 {
		t.Errorf("connections_refused_total = %v, want 1", got)
	}
	_ = open[0].Close()
	u := newUser(t, srv, "acct-maxconn")
	poll.Until(t, 5*time.Second, "room after a close", func() bool {
		conn, err := dialSSH(t, srv, u.username, sshKey(u))
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	})
}

package sshdtest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
)

func dialSFTP(t *testing.T, s *Server, auth ssh.AuthMethod) *sftp.Client {
	t.Helper()
	conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { _ = conn.Close() })
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStartKeyAndPasswordReadFile(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.WriteFile(t, "in/a.csv", []byte("x,y\n1,2\n"))

	c := dialSFTP(t, s, ssh.PublicKeys(s.ClientKeySigner))
	f, err := c.Open("in/a.csv")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	_ = f.Close()
	if buf.String() != "x,y\n1,2\n" {
		t.Fatalf("read %q", buf.String())
	}

	s.RequirePassword(t)
	c2 := dialSFTP(t, s, ssh.Password(s.Password))
	if _, err := c2.Stat("in/a.csv"); err != nil {
		t.Fatalf("stat over password login: %v", err)
	}
}

func TestKeyboardInteractiveOnly(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{KeyboardInteractiveOnly: true})
	s.RequirePassword(t)
	_, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User: s.User, Auth: []ssh.AuthMethod{ssh.Password(s.Password)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey), Timeout: 10 * time.Second,
	})
	if err == nil {
		t.Fatal("plain password login succeeded on a keyboard-interactive-only server")
	}
	kbd := ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		a := make([]string, len(qs))
		for i := range a {
			a[i] = s.Password
		}
		return a, nil
	})
	c := dialSFTP(t, s, kbd)
	if _, err := c.Getwd(); err != nil {
		t.Fatalf("getwd: %v", err)
	}
}

func TestProxyFreezeStopsTraffic(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	p := NewProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo before freeze: %q %v", buf, err)
	}
	p.Freeze()
	_, _ = c.Write([]byte("pong"))
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %d bytes through a frozen proxy", n)
	}
}

func TestGPGEncrypt(t *testing.T) {
	t.Parallel()
	g := NewGPG(t)
	fpr := g.GenKey(t, "alice@example.com", "default", "")
	if len(fpr) != 40 {
		t.Fatalf("fingerprint %q", fpr)
	}
	ct := g.Encrypt(t, []byte("secret"), "alice@example.com", "--armor")
	if !bytes.HasPrefix(ct, []byte("-----BEGIN PGP MESSAGE-----")) {
		t.Fatalf("not armored: %q", ct[:20])
	}
	pt := g.Run(t, bytes.NewReader(ct), "--decrypt")
	if string(pt) != "secret" {
		t.Fatalf("decrypted %q", pt)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

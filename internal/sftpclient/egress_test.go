package sftpclient

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/testutil/sshcapture"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"golang.org/x/crypto/ssh"
)

// captureConfig logs in to c with a password and a private key.
func captureConfig(c *sshcapture.Server, key []byte) Config {
	return Config{Host: c.Host, Port: c.Port, Username: "acme", Password: "the-password",
		PrivateKey: key, HandshakeTimeout: 10 * time.Second}
}

// TestHostKeyIsCheckedBeforeAnyCredential: a server that presents another
// key than the pinned one sees no password, no keyboard-interactive answer
// and no public key; ScanHostKey sends none either. With the right pin the
// same server sees them all, which shows it would have recorded them.
func TestHostKeyIsCheckedBeforeAnyCredential(t *testing.T) {
	t.Parallel()
	srv := sshcapture.Start(t)
	cfg := captureConfig(srv, otherKeyPEM(t, ""))
	other, err := ssh.NewSignerFromKey(newEd25519(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, pin := range []string{AuthorizedKey(other.PublicKey()), ssh.FingerprintSHA256(other.PublicKey())} {
		cfg.HostKey = pin
		_, err := Dial(ctx, cfg)
		var mm *HostKeyMismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("pin %s: got %v, want a host key mismatch", pin, err)
		}
	}
	k, err := ScanHostKey(ctx, cfg)
	if err != nil || AuthorizedKey(k) != srv.HostKeyAuthorized {
		t.Fatalf("scan: %v %v", k, err)
	}
	if got := srv.Attempts(); len(got) != 0 || srv.Connections() < 3 {
		t.Fatalf("before the host key matched, the server saw %d connections and attempts %+v", srv.Connections(), got)
	}
	cfg.HostKey = srv.HostKeyAuthorized
	if _, err := Dial(ctx, cfg); !errors.Is(err, ErrAuth) {
		t.Fatalf("pinned: got %v, want ErrAuth", err)
	}
	methods := map[string]bool{}
	for _, a := range srv.Attempts() {
		methods[a.Method] = true
	}
	if !methods["publickey"] || !methods["password"] || !methods["keyboard-interactive"] || !srv.Saw("the-password") {
		t.Fatalf("with the right pin the server saw %+v", srv.Attempts())
	}
}

// TestNoSSHServerReadsTheSame: a closed port, a port that hangs up, one
// that answers another protocol, one that resets and one that stays silent
// give one message, so that a connection test cannot tell them apart.
func TestNoSSHServerReadsTheSame(t *testing.T) {
	t.Parallel()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}()
	serve := func(handle func(c net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				handle(c)
			}
		}()
		t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
		return ln.Addr().String()
	}
	hangUp := serve(func(c net.Conn) { _ = c.Close() })
	http := serve(func(c net.Conn) {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		_ = c.Close()
	})
	redis := serve(func(c net.Conn) {
		_, _ = c.Write([]byte("-ERR unknown command 'SSH-2.0-Go'\r\n"))
		_ = c.Close()
	})
	reset := serve(func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	})
	silent := sshdtest.SilentListener(t)
	for name, addr := range map[string]string{"closed": closed, "hang up": hangUp, "http": http, "redis": redis, "reset": reset, "silent": silent} {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		cfg := Config{Host: host, Port: p, Username: "u", Password: "p", HostKey: "SHA256:" + strings.Repeat("A", 43), HandshakeTimeout: 500 * time.Millisecond}
		start := time.Now()
		_, derr := Dial(context.Background(), cfg)
		_, serr := ScanHostKey(context.Background(), cfg)
		for what, err := range map[string]error{"Dial": derr, "ScanHostKey": serr} {
			if err == nil || err.Error() != "no SSH server answered at "+addr || !errors.Is(err, ErrNoSSHServer) {
				t.Errorf("%s, %s: %v", name, what, err)
			}
			if errors.Is(err, ErrTimeout) != (name == "silent") {
				t.Errorf("%s, %s: ErrTimeout is %v", name, what, errors.Is(err, ErrTimeout))
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s with a 500ms handshake timeout", name, d)
		}
	}
}

// TestDialPassesTheEgressPolicy: with the default policy's dialer, a
// server on loopback is never connected to, by address or by name.
func TestDialPassesTheEgressPolicy(t *testing.T) {
	t.Parallel()
	srv := sshcapture.Start(t)
	cfg := captureConfig(srv, otherKeyPEM(t, ""))
	cfg.HostKey = srv.HostKeyAuthorized
	var policy *egress.Policy
	cfg.Dialer = policy.Dialer(net.Dialer{})
	for _, host := range []string{srv.Host, "localhost"} {
		cfg.Host = host
		if _, err := Dial(context.Background(), cfg); !errors.Is(err, egress.ErrForbidden) {
			t.Fatalf("Dial %s: got %v, want egress.ErrForbidden", host, err)
		}
		if _, err := ScanHostKey(context.Background(), cfg); !errors.Is(err, egress.ErrForbidden) {
			t.Fatalf("ScanHostKey %s: got %v, want egress.ErrForbidden", host, err)
		}
	}
	if n := srv.Connections(); n != 0 {
		t.Fatalf("a refused destination got %d connections", n)
	}
}

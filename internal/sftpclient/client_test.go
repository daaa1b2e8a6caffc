package sftpclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// baseConfig logs in to s with its client key and pins its host key.
func baseConfig(s *sshdtest.Server) Config {
	return Config{
		Host: s.Host, Port: s.Port, Username: s.User,
		PrivateKey: s.ClientKeyPEM, HostKey: s.HostKeyAuthorized,
		HandshakeTimeout: 10 * time.Second,
	}
}

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLoginMethods(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	s.WriteFile(t, "probe.txt", []byte("ok"))
	stat := func(t *testing.T, cfg Config) {
		t.Helper()
		c := dial(t, cfg)
		fi, err := c.Stat(context.Background(), "probe.txt")
		if err != nil || fi.Size != 2 {
			t.Fatalf("stat after login: %+v %v", fi, err)
		}
	}
	t.Run("key", func(t *testing.T) { stat(t, baseConfig(s)) })
	t.Run("password", func(t *testing.T) {
		s.RequirePassword(t)
		cfg := baseConfig(s)
		cfg.PrivateKey, cfg.Password = nil, s.Password
		stat(t, cfg)
	})
	t.Run("wrong key then password", func(t *testing.T) {
		s.RequirePassword(t)
		cfg := baseConfig(s)
		cfg.PrivateKey, cfg.Password = otherKeyPEM(t, ""), s.Password
		stat(t, cfg)
	})
	t.Run("fingerprint pin", func(t *testing.T) {
		cfg := baseConfig(s)
		cfg.HostKey = s.HostKeyFingerprint
		stat(t, cfg)
	})
	t.Run("known_hosts pin", func(t *testing.T) {
		cfg := baseConfig(s)
		cfg.HostKey = "[127.0.0.1]:" + strconv.Itoa(s.Port) + " " + s.HostKeyAuthorized
		stat(t, cfg)
	})
	t.Run("wrong password", func(t *testing.T) {
		s.RequirePassword(t)
		cfg := baseConfig(s)
		cfg.PrivateKey, cfg.Password = nil, "not-"+s.Password
		if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		cfg := baseConfig(s)
		cfg.PrivateKey = otherKeyPEM(t, "")
		if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
	})
}

func TestEncryptedKey(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{ClientKeyPassphrase: "hunter2"})
	cfg := baseConfig(s)
	cfg.Passphrase = []byte("hunter2")
	c := dial(t, cfg)
	if _, err := c.List(context.Background(), "."); err != nil {
		t.Fatalf("list: %v", err)
	}
	cfg.Passphrase = []byte("wrong")
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrPrivateKey) {
		t.Fatalf("wrong passphrase: got %v, want ErrPrivateKey", err)
	}
	cfg.Passphrase = nil
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrPrivateKey) {
		t.Fatalf("missing passphrase: got %v, want ErrPrivateKey", err)
	}
}

func TestKeyboardInteractive(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{KeyboardInteractiveOnly: true})
	s.RequirePassword(t)
	cfg := baseConfig(s)
	cfg.PrivateKey, cfg.Password = nil, s.Password
	c := dial(t, cfg)
	if _, err := c.List(context.Background(), "."); err != nil {
		t.Fatalf("list: %v", err)
	}
}

func TestHostKeyPinning(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	other, err := ssh.NewSignerFromKey(newEd25519(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(s)
	cfg.HostKey = AuthorizedKey(other.PublicKey())
	_, err = Dial(context.Background(), cfg)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("got %v, want *HostKeyMismatchError", err)
	}
	if mm.Want != ssh.FingerprintSHA256(other.PublicKey()) || mm.Got != s.HostKeyFingerprint {
		t.Fatalf("fingerprints: want %s got %s; error %+v", ssh.FingerprintSHA256(other.PublicKey()), s.HostKeyFingerprint, mm)
	}
	if !strings.Contains(err.Error(), mm.Want) || !strings.Contains(err.Error(), mm.Got) {
		t.Fatalf("error %q does not show both fingerprints", err)
	}

	cfg.HostKey = ""
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "host_key") {
		t.Fatalf("no pin: got %v, want a host_key config error", err)
	}

	seen, err := ScanHostKey(context.Background(), cfg)
	if err != nil || AuthorizedKey(seen) != s.HostKeyAuthorized {
		t.Fatalf("scanned host key %v (%v), want %q", seen, err, s.HostKeyAuthorized)
	}
}

func TestFileOperations(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many concurrent requests
	s.WriteFile(t, "in/b.csv", big)
	s.WriteFile(t, "in/a.csv", []byte("a,b\n"))
	s.Mkdir(t, "in/sub")
	c := dial(t, baseConfig(s))
	ctx := context.Background()

	list, err := c.List(ctx, "in")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 3 || list[0].Name != "a.csv" || list[1].Size != int64(len(big)) || !list[2].IsDir || list[1].Path != "in/b.csv" {
		t.Fatalf("list: %+v", list)
	}
	if list[0].ModTime.IsZero() {
		t.Fatal("list: no modification time")
	}

	var buf bytes.Buffer
	if n, err := c.Download(ctx, "in/b.csv", &buf); err != nil || n != int64(len(big)) || !bytes.Equal(buf.Bytes(), big) {
		t.Fatalf("download: %d %v", n, err)
	}

	r, err := c.Open(ctx, "in/b.csv")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("open+read: %d bytes, %v", len(got), err)
	}

	// Closing the reader early stops the download.
	r, err = c.Open(ctx, "in/b.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadFull(r, make([]byte, 10))
	_ = r.Close()

	if err := c.Mkdir(ctx, "done/2026"); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := c.Mkdir(ctx, "done/2026"); err != nil {
		t.Fatalf("mkdir existing: %v", err)
	}
	if err := c.Rename(ctx, "in/a.csv", "done/2026/a.csv"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "done/2026/a.csv")); err != nil {
		t.Fatalf("renamed file: %v", err)
	}
	if err := c.Remove(ctx, "done/2026/a.csv"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "done/2026/a.csv")); !os.IsNotExist(err) {
		t.Fatalf("removed file still there: %v", err)
	}
	if _, err := c.Upload(ctx, "up.txt", strings.NewReader("hello")); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Dir, "up.txt")); string(b) != "hello" {
		t.Fatalf("uploaded %q", b)
	}
}

func TestMissingAndForbidden(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, baseConfig(s))
	ctx := context.Background()
	if _, err := c.List(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing folder: got %v, want fs.ErrNotExist", err)
	}
	if _, err := c.Download(ctx, "nope.csv", io.Discard); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v, want fs.ErrNotExist", err)
	}
	s.RequirePassword(t) // permissions only bite an unprivileged user
	locked := filepath.Join(s.Dir, "locked")
	if err := os.Mkdir(locked, 0o700); err != nil { // owned by root
		t.Fatal(err)
	}
	if _, err := c.List(ctx, "locked"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("forbidden folder: got %v, want fs.ErrPermission", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	addr := sshdtest.SilentListener(t)
	host, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	start := time.Now()
	_, err := Dial(context.Background(), Config{
		Host: host, Port: p, Username: "u", Password: "p",
		HostKey: "SHA256:" + strings.Repeat("A", 43), HandshakeTimeout: 300 * time.Millisecond,
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s with a 300ms handshake timeout", d)
	}

	// Context cancellation also ends a hanging handshake.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { cancel() }()
	_, err = Dial(ctx, Config{Host: host, Port: p, Username: "u", Password: "p",
		HostKey: "SHA256:" + strings.Repeat("A", 43)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v, want context.Canceled", err)
	}
}

func TestSilentServerFailsPendingCall(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	s.WriteFile(t, "f.csv", bytes.Repeat([]byte("x"), 8<<20))
	proxy := sshdtest.NewProxy(t, s.Addr)
	cfg := baseConfig(s)
	host, port, _ := strings.Cut(proxy.Addr, ":")
	cfg.Host = host
	cfg.Port, _ = strconv.Atoi(port)
	cfg.KeepaliveInterval = 100 * time.Millisecond
	cfg.IdleTimeout = 600 * time.Millisecond
	c := dial(t, cfg)

	r, err := c.Open(context.Background(), "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Frozen at once: the download runs ahead of the reader, so after a
	// first read it could be over already.
	proxy.Freeze()
	start := time.Now()
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("pending download failed only after %s (idle timeout 600ms)", d)
	}
	if _, err := c.List(context.Background(), "."); !errors.Is(err, ErrTimeout) {
		t.Fatalf("call after timeout: got %v, want ErrTimeout", err)
	}
}

func TestKeepaliveHoldsQuietConnection(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := baseConfig(s)
	cfg.KeepaliveInterval = 50 * time.Millisecond
	cfg.IdleTimeout = 300 * time.Millisecond
	c := dial(t, cfg)
	// The behaviour under test is time passing without traffic from us:
	// keepalive answers must keep the connection open past IdleTimeout.
	time.Sleep(4 * cfg.IdleTimeout)
	if _, err := c.List(context.Background(), "."); err != nil {
		t.Fatalf("list after a quiet spell: %v", err)
	}
}

func TestCancelledCallClosesClient(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, baseConfig(s))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.List(ctx, "."); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	_ = c.Close()
	if _, err := c.List(context.Background(), "."); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// otherKeyPEM is a private key the server does not know.
func otherKeyPEM(t *testing.T, passphrase string) []byte {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(newEd25519(t), "other")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(newEd25519(t), "other", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// TestFingerprintPinOfAnotherHostKeyType: a server with an ed25519 and an
// ECDSA host key; a bare fingerprint pin of the one that the handshake does
// not choose by itself connects, and a wrong fingerprint lists both keys.
func TestFingerprintPinOfAnotherHostKeyType(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{ECDSAHostKey: true})
	cfg := baseConfig(s)
	first, err := ScanHostKey(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKey = ssh.FingerprintSHA256(s.ECDSAHostKey)
	if first.Type() != ssh.KeyAlgoED25519 {
		cfg.HostKey = s.HostKeyFingerprint
	}
	c := dial(t, cfg)
	if got := ssh.FingerprintSHA256(c.HostKey()); got != cfg.HostKey {
		t.Fatalf("connected with host key %s, want the pinned ECDSA key %s", got, cfg.HostKey)
	}
	if _, err := c.List(context.Background(), "."); err != nil {
		t.Fatalf("list: %v", err)
	}

	other, err := ssh.NewSignerFromKey(newEd25519(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKey = ssh.FingerprintSHA256(other.PublicKey())
	_, err = Dial(context.Background(), cfg)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("got %v, want *HostKeyMismatchError", err)
	}
	for _, fp := range []string{s.HostKeyFingerprint, ssh.FingerprintSHA256(s.ECDSAHostKey)} {
		if !strings.Contains(err.Error(), fp) {
			t.Errorf("error %q does not list the server's key %s", err, fp)
		}
	}
}

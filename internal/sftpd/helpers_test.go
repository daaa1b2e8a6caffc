package sftpd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/pkg/sftp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// boxSealer is a real XChaCha20-Poly1305 sealer, as the secrets box is.
type boxSealer struct{ key []byte }

func newBoxSealer(t testing.TB) boxSealer {
	key := make([]byte, chacha20poly1305.KeySize)
	_, _ = rand.Read(key)
	return boxSealer{key: key}
}

func (b boxSealer) Seal(plaintext []byte) (string, error) {
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plaintext, nil)), nil
}

func (b boxSealer) Open(sealed string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
}

// uploadEvent is one call of the upload hook.
type uploadEvent struct{ account, username, authID, path string }

// bundle is what a test gets from setup.
type bundle struct {
	rdb     redis.UniversalClient
	ns      keyspace.Namespace
	sealer  boxSealer
	dataDir string
	cfg     Config
	reg     *prometheus.Registry
	uploads chan uploadEvent
	logs    *lockedBuffer // every server's JSON logs
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig is a Config with quick failure delays for tests.
func testConfig(dataDir string) Config {
	return Config{
		Addr:            "127.0.0.1:0",
		DataDir:         dataDir,
		FailureDelay:    time.Millisecond,
		MaxFailureDelay: 5 * time.Millisecond,
		BcryptCost:      4,
		ShutdownTimeout: 5 * time.Second,
	}
}

// setup starts a server on a fresh namespace and data directory.
func setup(t *testing.T, modify func(*Config)) (*Server, *bundle) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	return setupOn(t, rdb, ns, modify)
}

// setupOn is setup on rdb, under ns.
func setupOn(t *testing.T, rdb redis.UniversalClient, ns keyspace.Namespace, modify func(*Config)) (*Server, *bundle) {
	t.Helper()
	b := &bundle{rdb: rdb, ns: ns, sealer: newBoxSealer(t), dataDir: t.TempDir(), uploads: make(chan uploadEvent, 100), logs: &lockedBuffer{}}
	b.cfg = testConfig(b.dataDir)
	if modify != nil {
		modify(&b.cfg)
	}
	return b.start(t), b
}

// start starts one more server on the bundle's Redis namespace.
func (b *bundle) start(t *testing.T) *Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	if b.reg == nil {
		b.reg = reg
	}
	srv, err := NewServer(b.rdb, b.ns, b.cfg, Options{
		Sealer:     b.sealer,
		Registerer: reg,
		Logger:     slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnUpload: func(_ context.Context, up Upload) {
			b.uploads <- uploadEvent{up.Account, up.Username, up.AuthID, up.Path}
		},
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return srv
}

// testUser is a provisioned user with a key pair on disk.
type testUser struct {
	account, username, password string
	authID                      string
	signer                      ssh.Signer
	keyFile                     string
}

// newUser provisions a user of account acct with a password and a key.
func newUser(t *testing.T, srv *Server, acct string) testUser {
	t.Helper()
	ctx := t.Context()
	authID := "auth-" + redistest.RandomID()
	username, password, err := srv.Users().CreateUser(ctx, acct, authID)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	if _, err := srv.Users().AddPublicKey(ctx, acct, username, string(ssh.MarshalAuthorizedKey(sshPub))); err != nil {
		t.Fatalf("AddPublicKey: %v", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return testUser{account: acct, username: username, password: password, authID: authID, signer: signer, keyFile: keyFile}
}

// dialSSH logs in with the given auth methods, pinning the host key.
func dialSSH(t testing.TB, srv *Server, username string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", srv.Addr().String(), &ssh.ClientConfig{
		User:            username,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
		Timeout:         10 * time.Second,
	})
}

// sftpClient logs in with auth and returns an SFTP client closed at cleanup.
func sftpClient(t testing.TB, srv *Server, username string, auth ...ssh.AuthMethod) *sftp.Client {
	t.Helper()
	conn, err := dialSSH(t, srv, username, auth...)
	if err != nil {
		t.Fatalf("ssh login of %s: %v", username, err)
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		_ = conn.Close()
		t.Fatalf("sftp client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = conn.Close() })
	return c
}

func (u testUser) keyClient(t testing.TB, srv *Server) *sftp.Client {
	t.Helper()
	return sftpClient(t, srv, u.username, ssh.PublicKeys(u.signer))
}

func (u testUser) dir(t testing.TB, srv *Server) string {
	t.Helper()
	d, err := srv.UserDir(u.account, u.username)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// knownHosts writes a known_hosts file that pins srv's host key.
func knownHosts(t testing.TB, srv *Server) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	line := fmt.Sprintf("[127.0.0.1]:%s %s", port, ssh.MarshalAuthorizedKey(srv.HostKey()))
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// runOpenSSH runs OpenSSH's sftp client in batch mode with key auth and
// returns its combined output.
func runOpenSSH(t testing.TB, srv *Server, u testUser, workDir, batch string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("OpenSSH sftp client not installed")
	}
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	return runOpenSSHPort(t, port, knownHosts(t, srv), u.username, u.keyFile, workDir, batch)
}

// runOpenSSHPort runs OpenSSH's sftp in batch mode against 127.0.0.1:port.
func runOpenSSHPort(t testing.TB, port, knownHostsFile, username, keyFile, workDir, batch string) (string, error) {
	t.Helper()
	batchFile := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(batchFile, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sftp", "-b", batchFile, "-P", port,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+knownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR",
		"-F", "/dev/null",
		"-i", keyFile,
		username+"@127.0.0.1")
	cmd.Dir = workDir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitUpload waits for the upload hook to report path.
func (b *bundle) waitUpload(t testing.TB, within time.Duration) uploadEvent {
	t.Helper()
	select {
	case ev := <-b.uploads:
		return ev
	case <-time.After(within):
		t.Fatalf("no upload hook call within %s", within)
		return uploadEvent{}
	}
}

func sshKey(u testUser) ssh.AuthMethod { return ssh.PublicKeys(u.signer) }

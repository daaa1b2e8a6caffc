// Package sshdtest starts a real OpenSSH sshd (with its internal-sftp
// subsystem) for tests, and makes gpg keys and encrypted files in a throwaway GNUPGHOME.
//
// How authentication works (the approach that proved reliable):
//
//   - sshd runs as the current user with its own config, host key and port.
//     UsePAM is off, so password checks go straight to /etc/shadow.
//   - When the tests run as root (CI containers), Start creates a unique,
//     unprivileged test user ("bst" + random hex) with a random password and
//     an authorized key, owns Server.Dir to it, and deletes the user when the
//     test ends. Password, key and permission tests then all work, and
//     permission checks are real (root would bypass them).
//   - When the tests do not run as root, sshd can only log in the current
//     user with a key: Server.Password is empty and tests that need password
//     authentication should call RequirePassword, which skips them.
//
// As root, sshd needs its privilege-separation directory /run/sshd; Start
// creates it when it is missing (the openssh-server package normally does).
package sshdtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is OpenSSH's sshd; the CI script installs openssh-server.
const SSHDPath = "/usr/sbin/sshd"

// Options tune Start.
type Options struct {
	// KeyboardInteractiveOnly turns plain password authentication off and
	// keyboard-interactive on (through PAM), like servers that only prompt.
	KeyboardInteractiveOnly bool
	// ClientKeyPassphrase, when set, encrypts Server.ClientKeyPEM with it.
	ClientKeyPassphrase string
	// ECDSAHostKey gives the server a second host key, ECDSA P-256
	// (Server.ECDSAHostKey), as most servers have several.
	ECDSAHostKey bool
}

// Server is a running sshd.
type Server struct {
	Addr string // 127.0.0.1:port
	Host string // 127.0.0.1
	Port int

	HostKey            ssh.PublicKey
	HostKeyAuthorized  string // "ssh-ed25519 AAAA..." (authorized_keys format, no newline)
	HostKeyFingerprint string // "SHA256:..."
	// ECDSAHostKey is the second host key (Options.ECDSAHostKey), else nil.
	ECDSAHostKey ssh.PublicKey

	User     string
	Password string // empty when not running as root

	ClientKeyPEM    []byte // OpenSSH-format private key authorized for User
	ClientKeySigner ssh.Signer

	// Dir is User's home and the sftp starting directory, owned by User.
	Dir string

	uid, gid int
	cmd      *exec.Cmd
	log      *syncBuffer
}

// Start starts sshd for the test and stops it (and removes the test user)
// when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skipf("sshdtest: %s not installed: %v", SSHDPath, err)
	}
	// Not t.TempDir: its parent is private to root, and the test user must
	// reach authorized_keys.
	sweepStale()
	work, err := os.MkdirTemp("", tempName("sshdtest-etc"))
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	s := &Server{Host: "127.0.0.1", log: &syncBuffer{}}

	hostSigner := newEd25519(t, filepath.Join(work, "host_key"), "")
	s.HostKey = hostSigner.PublicKey()
	s.HostKeyAuthorized = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostKey)
	hostKeys := "HostKey " + filepath.Join(work, "host_key")
	if opts.ECDSAHostKey {
		path := filepath.Join(work, "host_key_ecdsa")
		s.ECDSAHostKey = newECDSA(t, path).PublicKey()
		hostKeys += "\nHostKey " + path
	}

	clientPath := filepath.Join(work, "client_key")
	s.ClientKeySigner = newEd25519(t, clientPath, opts.ClientKeyPassphrase)
	pemBytes, err := os.ReadFile(clientPath)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.ClientKeyPEM = pemBytes
	authorized := filepath.Join(work, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(s.ClientKeySigner.PublicKey()), 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	dir, err := os.MkdirTemp("", tempName("sshdtest-home"))
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.Dir = dir
	s.uid, s.gid = os.Getuid(), os.Getgid()

	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: creating /run/sshd: %v", err)
		}
		s.createUser(t)
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.User = u.Username
	}
	// The authorized_keys file and its directory must be readable by User.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshdtest: finding a free port: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))

	pwAuth, kbd, pam := "yes", "no", "no"
	if opts.KeyboardInteractiveOnly {
		pwAuth, kbd, pam = "no", "yes", "yes"
	}
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
%s
PidFile none
AuthorizedKeysFile %s
StrictModes no
UsePAM %s
PasswordAuthentication %s
KbdInteractiveAuthentication %s
PermitRootLogin yes
PermitEmptyPasswords no
MaxAuthTries 10
LoginGraceTime 30
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, s.Port, hostKeys, authorized, pam, pwAuth, kbd)
	cfgPath := filepath.Join(work, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	s.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfgPath)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// Pdeathsig: sshd dies with the test process even when it crashes.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("sshdtest: starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	s.waitReady(t, exited)
	return s
}

// waitReady polls until sshd answers with its SSH banner.
func (s *Server) waitReady(t testing.TB, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("sshdtest: sshd exited early:\n%s", s.log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			_, rerr := c.Read(buf)
			_ = c.Close()
			if rerr == nil && string(buf) == "SSH-" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the port; sshd gives no other signal
	}
	t.Fatalf("sshdtest: sshd did not accept on %s:\n%s", s.Addr, s.log.String())
}

// RequirePassword skips the test when the server has no password user
// (tests not running as root).
func (s *Server) RequirePassword(t testing.TB) {
	t.Helper()
	if s.Password == "" {
		t.Skip("sshdtest: password authentication needs root to create a test user")
	}
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// WriteFile writes name (relative to Dir) with data, creating parent
// directories, and gives it to User.
func (s *Server) WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(s.Dir, name)
	s.Mkdir(t, filepath.Dir(name))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.chown(t, p)
	return p
}

// Mkdir creates the directory name (relative to Dir) and its parents, owned
// by User.
func (s *Server) Mkdir(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(s.Dir, name)
	rel, _ := filepath.Rel(s.Dir, p)
	if rel == "." {
		return p
	}
	cur := s.Dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !os.IsExist(err) {
			t.Fatalf("sshdtest: %v", err)
		}
		s.chown(t, cur)
	}
	return p
}

// Own gives the file or directory name (relative to Dir) to User, for files
// written into Dir by other means than WriteFile.
func (s *Server) Own(t testing.TB, name string) {
	t.Helper()
	s.chown(t, filepath.Join(s.Dir, name))
}

// chown gives path (absolute, under Dir) to User.
func (s *Server) chown(t testing.TB, p string) {
	t.Helper()
	if err := os.Chown(p, s.uid, s.gid); err != nil {
		t.Fatalf("sshdtest: chown %s: %v", p, err)
	}
}

func (s *Server) createUser(t testing.TB) {
	t.Helper()
	s.User = "bst" + randomHex(6)
	s.Password = "pw-" + randomHex(8)
	run := func(stdin string, name string, args ...string) {
		t.Helper()
		// useradd and chpasswd fail while another process holds the
		// /etc/passwd lock (parallel test binaries); retry for a while.
		var out []byte
		var err error
		for i := 0; i < 100; i++ {
			cmd := exec.Command(name, args...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err = cmd.CombinedOutput()
			if err == nil {
				return
			}
			if !bytes.Contains(out, []byte("lock")) {
				break
			}
			time.Sleep(50 * time.Millisecond) // waiting for another process's /etc/passwd lock
		}
		t.Fatalf("sshdtest: %s %v: %v: %s", name, args, err, out)
	}
	run("", "useradd", "-M", "-d", s.Dir, "-s", "/bin/sh", s.User)
	t.Cleanup(func() {
		for i := 0; i < 100; i++ {
			out, err := exec.Command("userdel", "-f", s.User).CombinedOutput()
			if err == nil || !bytes.Contains(out, []byte("lock")) {
				return
			}
			time.Sleep(50 * time.Millisecond) // waiting for another process's /etc/passwd lock
		}
	})
	run(s.User+":"+s.Password+"\n", "chpasswd")
	u, err := user.Lookup(s.User)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.uid, _ = strconv.Atoi(u.Uid)
	s.gid, _ = strconv.Atoi(u.Gid)
	s.chown(t, s.Dir)
}

// newEd25519 writes an OpenSSH-format Ed25519 private key to path
// (encrypted when passphrase is set) and returns its signer.
func newEd25519(t testing.TB, path, passphrase string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return saveKey(t, path, priv, passphrase)
}

func newECDSA(t testing.TB, path string) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return saveKey(t, path, priv, "")
}

// saveKey writes priv to path in OpenSSH form (encrypted with passphrase
// when it is set) and returns its signer.
func saveKey(t testing.TB, path string, priv crypto.Signer, passphrase string) ssh.Signer {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "sshdtest", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "sshdtest")
	}
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return signer
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for the sshd process writers and the
// test goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

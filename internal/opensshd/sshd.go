// Package opensshd starts a real OpenSSH sshd (with its internal-sftp
// subsystem) and makes gpg keys and encrypted files in a throwaway
// GNUPGHOME: the outside systems that the tests (through
// internal/testutil/sshdtest) and the import benchmark (cmd/benchimport)
// run imports against.
//
// How authentication works (the approach that proved reliable):
//
//   - sshd runs as the current user with its own config, host key and port.
//     UsePAM is off, so password checks go straight to /etc/shadow.
//   - When running as root (CI containers), Start creates a unique,
//     unprivileged user ("bst" + random hex) with a random password and an
//     authorized key, owns Server.Dir to it, and Close deletes the user.
//     Password, key and permission checks then all work, and permission
//     checks are real (root would bypass them).
//   - When not running as root, sshd can only log in the current user with
//     a key: Server.Password is empty.
//
// As root, sshd needs its privilege-separation directory /run/sshd; Start
// creates it when it is missing (the openssh-server package normally does).
package opensshd

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
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
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is OpenSSH's sshd; the CI script installs openssh-server.
const SSHDPath = "/usr/sbin/sshd"

// ErrNotInstalled is returned when sshd or gpg is not installed.
var ErrNotInstalled = errors.New("not installed")

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
	exited   chan struct{}
	log      *syncBuffer
	// cleanups run in reverse order on Close.
	cleanups []func()
	closed   sync.Once
}

// Start starts sshd. Close stops it and removes its files and user. An
// sshd that is not installed is ErrNotInstalled.
func Start(opts Options) (_ *Server, err error) {
	if _, err := os.Stat(SSHDPath); err != nil {
		return nil, fmt.Errorf("opensshd: %s: %w (%v)", SSHDPath, ErrNotInstalled, err)
	}
	s := &Server{Host: "127.0.0.1", log: &syncBuffer{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// Not a private temp dir: the test user must reach authorized_keys.
	sweepStale()
	work, err := os.MkdirTemp("", tempName("sshdtest-etc"))
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	s.cleanup(func() { _ = os.RemoveAll(work) })

	hostSigner, err := newEd25519(filepath.Join(work, "host_key"), "")
	if err != nil {
		return nil, err
	}
	s.HostKey = hostSigner.PublicKey()
	s.HostKeyAuthorized = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostKey)
	hostKeys := "HostKey " + filepath.Join(work, "host_key")
	if opts.ECDSAHostKey {
		path := filepath.Join(work, "host_key_ecdsa")
		signer, err := newECDSA(path)
		if err != nil {
			return nil, err
		}
		s.ECDSAHostKey = signer.PublicKey()
		hostKeys += "\nHostKey " + path
	}

	clientPath := filepath.Join(work, "client_key")
	if s.ClientKeySigner, err = newEd25519(clientPath, opts.ClientKeyPassphrase); err != nil {
		return nil, err
	}
	if s.ClientKeyPEM, err = os.ReadFile(clientPath); err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	authorized := filepath.Join(work, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(s.ClientKeySigner.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}

	dir, err := os.MkdirTemp("", tempName("sshdtest-home"))
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	s.cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	s.Dir = dir
	s.uid, s.gid = os.Getuid(), os.Getgid()

	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("opensshd: creating /run/sshd: %w", err)
		}
		if err := s.createUser(); err != nil {
			return nil, err
		}
	} else {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("opensshd: %w", err)
		}
		s.User = u.Username
	}
	// The authorized_keys file and its directory must be readable by User.
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("opensshd: finding a free port: %w", err)
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
		return nil, fmt.Errorf("opensshd: %w", err)
	}

	s.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfgPath)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// Pdeathsig: sshd dies with this process even when it crashes.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("opensshd: starting sshd: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	s.cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	})
	return s, s.waitReady()
}

// cleanup registers f to run on Close.
func (s *Server) cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// Close stops sshd and removes its files and its user. Idempotent.
func (s *Server) Close() {
	s.closed.Do(func() {
		for i := len(s.cleanups) - 1; i >= 0; i-- {
			s.cleanups[i]()
		}
	})
}

// waitReady polls until sshd answers with its SSH banner.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("opensshd: sshd exited early:\n%s", s.log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			_, rerr := c.Read(buf)
			_ = c.Close()
			if rerr == nil && string(buf) == "SSH-" {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the port; sshd gives no other signal
	}
	return fmt.Errorf("opensshd: sshd did not accept on %s:\n%s", s.Addr, s.log.String())
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// WriteFile writes name (relative to Dir) with data, creating parent
// directories, and gives it to User. It returns the file's path.
func (s *Server) WriteFile(name string, data []byte) (string, error) {
	p := filepath.Join(s.Dir, name)
	if _, err := s.Mkdir(filepath.Dir(name)); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("opensshd: %w", err)
	}
	return p, s.chown(p)
}

// Mkdir creates the directory name (relative to Dir) and its parents, owned
// by User. It returns the directory's path.
func (s *Server) Mkdir(name string) (string, error) {
	p := filepath.Join(s.Dir, name)
	rel, _ := filepath.Rel(s.Dir, p)
	if rel == "." {
		return p, nil
	}
	cur := s.Dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !os.IsExist(err) {
			return "", fmt.Errorf("opensshd: %w", err)
		}
		if err := s.chown(cur); err != nil {
			return "", err
		}
	}
	return p, nil
}

// Own gives the file or directory name (relative to Dir) to User, for files
// written into Dir by other means than WriteFile.
func (s *Server) Own(name string) error { return s.chown(filepath.Join(s.Dir, name)) }

// chown gives path (absolute, under Dir) to User.
func (s *Server) chown(p string) error {
	if err := os.Chown(p, s.uid, s.gid); err != nil {
		return fmt.Errorf("opensshd: chown %s: %w", p, err)
	}
	return nil
}

// createUser makes the unprivileged user sshd logs in (when root).
func (s *Server) createUser() error {
	s.User = "bst" + randomHex(6)
	s.Password = "pw-" + randomHex(8)
	if err := retryLocked("", "useradd", "-M", "-d", s.Dir, "-s", "/bin/sh", s.User); err != nil {
		return err
	}
	s.cleanup(func() { _ = retryLocked("", "userdel", "-f", s.User) })
	if err := retryLocked(s.User+":"+s.Password+"\n", "chpasswd"); err != nil {
		return err
	}
	u, err := user.Lookup(s.User)
	if err != nil {
		return fmt.Errorf("opensshd: %w", err)
	}
	s.uid, _ = strconv.Atoi(u.Uid)
	s.gid, _ = strconv.Atoi(u.Gid)
	return s.chown(s.Dir)
}

// retryLocked runs a user-database command; useradd, userdel and chpasswd
// fail while another process holds the /etc/passwd lock (parallel test
// binaries), so it retries for a while.
func retryLocked(stdin, name string, args ...string) error {
	var out []byte
	var err error
	for range 100 {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err = cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if !bytes.Contains(out, []byte("lock")) {
			break
		}
		time.Sleep(50 * time.Millisecond) // waiting for another process's /etc/passwd lock
	}
	return fmt.Errorf("opensshd: %s %v: %w: %s", name, args, err, out)
}

// newEd25519 writes an OpenSSH-format Ed25519 private key to path
// (encrypted when passphrase is set) and returns its signer.
func newEd25519(path, passphrase string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	return saveKey(path, priv, passphrase)
}

func newECDSA(path string) (ssh.Signer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	return saveKey(path, priv, "")
}

// saveKey writes priv to path in OpenSSH form (encrypted with passphrase
// when it is set) and returns its signer.
func saveKey(path string, priv crypto.Signer, passphrase string) (ssh.Signer, error) {
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "sshdtest", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "sshdtest")
	}
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	return signer, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for the sshd process writers and the
// caller's goroutine.
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

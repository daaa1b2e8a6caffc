package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// customerSFTP is a customer's SFTP server: OpenSSH's sshd on a loopback
// port, logging the current user in with a key made by ssh-keygen.
type customerSFTP struct {
	Host, User string
	Port       int
	// KeyPEM is the client's private key, in OpenSSH form.
	KeyPEM string
	// Dir is a folder of the server for the scenario's files.
	Dir string
}

const sshdPath = "/usr/sbin/sshd"

func startCustomerSFTP(t *testing.T) *customerSFTP {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("OpenSSH's sshd is needed (.ci/run installs openssh-server): %v", err)
	}
	work := t.TempDir()
	keygen := func(path string) {
		t.Helper()
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	keygen(filepath.Join(work, "host_key"))
	keygen(filepath.Join(work, "client_key"))
	key, err := os.ReadFile(filepath.Join(work, "client_key"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(work, "client_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(work, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("creating sshd's privilege separation folder: %v", err)
		}
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	s := &customerSFTP{Host: "127.0.0.1", Port: ports[0], User: u.Username, KeyPEM: string(key), Dir: filepath.Join(work, "files")}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, s.Port, filepath.Join(work, "host_key"), authorized)
	cfgPath := filepath.Join(work, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	eventually(t, 15*time.Second, "sshd's banner", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("sshd exited:\n%s", logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 4)
		_, err = c.Read(b)
		return err == nil && string(b) == "SSH-", string(b)
	})
	return s
}

// write puts a file into the server's scenario folder.
func (s *customerSFTP) write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// gpgKey is a key pair made by gpg in a throwaway home.
type gpgKey struct {
	home, email string
	// Armored is the secret key, ASCII-armored and protected by Passphrase.
	Armored, Passphrase string
}

func newGPGKey(t *testing.T) *gpgKey {
	t.Helper()
	// gpg-agent's socket path must be short: not t.TempDir.
	home, err := os.MkdirTemp("", "e2egpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		_ = os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	k := &gpgKey{home: home, email: "e2e-" + randomHex(4) + "@example.com", Passphrase: "pp-" + randomHex(6)}
	k.gpg(t, nil, "--passphrase", k.Passphrase, "--quick-gen-key", "E2E <"+k.email+">", "default", "default", "never")
	k.Armored = string(k.gpg(t, nil, "--passphrase", k.Passphrase, "--armor", "--export-secret-keys", k.email))
	return k
}

// encrypt returns data encrypted to the key, as gpg writes it (binary).
func (k *gpgKey) encrypt(t *testing.T, data []byte) []byte {
	t.Helper()
	return k.gpg(t, data, "--trust-model", "always", "--recipient", k.email, "--output", "-", "--encrypt")
}

func (k *gpgKey) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", k.home, "--batch", "--yes", "--pinentry-mode", "loopback"}, args...)...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %v: %v: %s", args, err, stderr.String())
	}
	return out
}

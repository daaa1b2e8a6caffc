package sshdtest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// GPGPath is the gpg binary the helpers run.
const GPGPath = "/usr/bin/gpg"

// GPG runs gpg with a throwaway GNUPGHOME.
type GPG struct {
	Home string
}

// NewGPG makes an empty GNUPGHOME for the test; its agent is stopped and the
// directory removed when the test ends.
func NewGPG(t testing.TB) *GPG {
	t.Helper()
	if _, err := os.Stat(GPGPath); err != nil {
		t.Skipf("sshdtest: %s not installed: %v", GPGPath, err)
	}
	// A short path: the agent's socket path must fit in sun_path.
	sweepStale()
	home, err := os.MkdirTemp("", tempName("gpg"))
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	// gpg-agent protects exported secret keys with a calibrated S2K count
	// (65 million bytes of SHA-1 here), which takes Go seconds to unlock,
	// far more under -race. The lowest count keeps tests fast; the format
	// is the same.
	if err := os.WriteFile(home+"/gpg-agent.conf", []byte("s2k-count 65536\n"), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	g := &GPG{Home: home}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
		_ = os.RemoveAll(home)
	})
	return g
}

// Run runs gpg --batch with args, stdin as input, and returns stdout.
func (g *GPG) Run(t testing.TB, stdin io.Reader, args ...string) []byte {
	t.Helper()
	out, err := g.run(stdin, args...)
	if err != nil {
		t.Fatalf("sshdtest: gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (g *GPG) run(stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback"}, args...)
	cmd := exec.Command(GPGPath, full...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, &gpgError{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type gpgError struct {
	err    error
	stderr string
}

func (e *gpgError) Error() string { return e.err.Error() + ": " + e.stderr }

// GenKey creates a key for uid (e.g. "alice@example.com"). algo is gpg's
// --quick-gen-key algorithm: "default" (Curve25519 with gpg 2.2.40+),
// "rsa2048", "ed25519/cv25519"... An empty passphrase makes an unprotected
// key. It returns the primary key's fingerprint.
func (g *GPG) GenKey(t testing.TB, uid, algo, passphrase string) string {
	t.Helper()
	if algo == "" {
		algo = "default"
	}
	if algo == "default" {
		g.Run(t, nil, "--passphrase", passphrase, "--quick-gen-key", uid, algo, "default", "never")
		return g.fingerprint(t, uid)
	}
	// A signing primary key and an encryption subkey, as gpg's default does.
	g.Run(t, nil, "--passphrase", passphrase, "--quick-gen-key", uid, algo, "sign,cert", "never")
	fpr := g.fingerprint(t, uid)
	enc := algo
	if algo == "ed25519" {
		enc = "cv25519"
	}
	g.Run(t, nil, "--passphrase", passphrase, "--quick-add-key", fpr, enc, "encr", "never")
	return fpr
}

func (g *GPG) fingerprint(t testing.TB, uid string) string {
	t.Helper()
	out := g.Run(t, nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 9 && f[0] == "fpr" {
			return f[9]
		}
	}
	t.Fatalf("sshdtest: no fingerprint for %s in %s", uid, out)
	return ""
}

// ExportSecret returns uid's armored secret key (protected by passphrase as
// it was generated).
func (g *GPG) ExportSecret(t testing.TB, uid, passphrase string) []byte {
	t.Helper()
	return g.Run(t, nil, "--passphrase", passphrase, "--armor", "--export-secret-keys", uid)
}

// ExportPublic returns uid's armored public key.
func (g *GPG) ExportPublic(t testing.TB, uid string) []byte {
	t.Helper()
	return g.Run(t, nil, "--armor", "--export", uid)
}

// Encrypt encrypts plaintext for recipient with extra gpg args such as
// "--armor", "-z", "0", or "--sign", "--local-user", signer,
// "--passphrase", pw.
func (g *GPG) Encrypt(t testing.TB, plaintext []byte, recipient string, args ...string) []byte {
	t.Helper()
	full := append([]string{"--trust-model", "always", "--recipient", recipient}, args...)
	full = append(full, "--encrypt")
	return g.Run(t, bytes.NewReader(plaintext), full...)
}

// EncryptFile encrypts the file in to out, for large inputs.
func (g *GPG) EncryptFile(t testing.TB, in, out, recipient string, args ...string) {
	t.Helper()
	full := append([]string{"--trust-model", "always", "--recipient", recipient, "--output", out}, args...)
	full = append(full, "--encrypt", in)
	g.Run(t, nil, full...)
}

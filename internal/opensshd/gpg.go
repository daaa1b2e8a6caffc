package opensshd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// GPGPath is the gpg binary GPG runs.
const GPGPath = "/usr/bin/gpg"

// GPG runs gpg with a throwaway GNUPGHOME.
type GPG struct {
	Home string
}

// NewGPG makes an empty GNUPGHOME; Close stops its agent and removes it. A
// gpg that is not installed is ErrNotInstalled.
func NewGPG() (*GPG, error) {
	if _, err := os.Stat(GPGPath); err != nil {
		return nil, fmt.Errorf("opensshd: %s: %w (%v)", GPGPath, ErrNotInstalled, err)
	}
	// A short path: the agent's socket path must fit in sun_path.
	sweepStale()
	home, err := os.MkdirTemp("", tempName("gpg"))
	if err != nil {
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	g := &GPG{Home: home}
	if err := os.Chmod(home, 0o700); err != nil {
		g.Close()
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	// gpg-agent protects exported secret keys with a calibrated S2K count
	// (65 million bytes of SHA-1 here), which takes Go seconds to unlock,
	// far more under -race. The lowest count keeps tests fast; the format
	// is the same.
	if err := os.WriteFile(home+"/gpg-agent.conf", []byte("s2k-count 65536\n"), 0o600); err != nil {
		g.Close()
		return nil, fmt.Errorf("opensshd: %w", err)
	}
	return g, nil
}

// Close stops the agent and removes the home directory.
func (g *GPG) Close() {
	cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	_ = cmd.Run() // no agent may have started
	_ = os.RemoveAll(g.Home)
}

// Run runs gpg --batch with args, stdin as input, and returns stdout.
func (g *GPG) Run(stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback"}, args...)
	cmd := exec.Command(GPGPath, full...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("opensshd: gpg %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// GenKey creates a key for uid (e.g. "alice@example.com"). algo is gpg's
// --quick-gen-key algorithm: "default" (Curve25519 with gpg 2.2.40+),
// "rsa2048", "ed25519/cv25519"... An empty passphrase makes an unprotected
// key. It returns the primary key's fingerprint.
func (g *GPG) GenKey(uid, algo, passphrase string) (string, error) {
	if algo == "" {
		algo = "default"
	}
	if algo == "default" {
		if _, err := g.Run(nil, "--passphrase", passphrase, "--quick-gen-key", uid, algo, "default", "never"); err != nil {
			return "", err
		}
		return g.fingerprint(uid)
	}
	// A signing primary key and an encryption subkey, as gpg's default does.
	if _, err := g.Run(nil, "--passphrase", passphrase, "--quick-gen-key", uid, algo, "sign,cert", "never"); err != nil {
		return "", err
	}
	fpr, err := g.fingerprint(uid)
	if err != nil {
		return "", err
	}
	enc := algo
	if algo == "ed25519" {
		enc = "cv25519"
	}
	_, err = g.Run(nil, "--passphrase", passphrase, "--quick-add-key", fpr, enc, "encr", "never")
	return fpr, err
}

func (g *GPG) fingerprint(uid string) (string, error) {
	out, err := g.Run(nil, "--with-colons", "--list-keys", uid)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 9 && f[0] == "fpr" {
			return f[9], nil
		}
	}
	return "", fmt.Errorf("opensshd: no fingerprint for %s in %s", uid, out)
}

// ExportSecret returns uid's armored secret key (protected by passphrase as
// it was generated).
func (g *GPG) ExportSecret(uid, passphrase string) ([]byte, error) {
	return g.Run(nil, "--passphrase", passphrase, "--armor", "--export-secret-keys", uid)
}

// ExportPublic returns uid's armored public key.
func (g *GPG) ExportPublic(uid string) ([]byte, error) {
	return g.Run(nil, "--armor", "--export", uid)
}

// Encrypt encrypts plaintext for recipient with extra gpg args such as
// "--armor", "-z", "0", or "--sign", "--local-user", signer,
// "--passphrase", pw.
func (g *GPG) Encrypt(plaintext []byte, recipient string, args ...string) ([]byte, error) {
	full := append([]string{"--trust-model", "always", "--recipient", recipient}, args...)
	full = append(full, "--encrypt")
	return g.Run(bytes.NewReader(plaintext), full...)
}

// EncryptFile encrypts the file in to out, for large inputs.
func (g *GPG) EncryptFile(in, out, recipient string, args ...string) error {
	full := append([]string{"--trust-model", "always", "--recipient", recipient, "--output", out}, args...)
	full = append(full, "--encrypt", in)
	_, err := g.Run(nil, full...)
	return err
}

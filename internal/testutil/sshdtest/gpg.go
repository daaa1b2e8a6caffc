package sshdtest

import (
	"errors"
	"io"
	"testing"

	"github.com/brazesync/brazesync/internal/opensshd"
)

// GPG runs gpg with a throwaway GNUPGHOME.
type GPG struct {
	*opensshd.GPG
}

// NewGPG makes an empty GNUPGHOME for the test; its agent is stopped and the
// directory removed when the test ends.
func NewGPG(t testing.TB) *GPG {
	t.Helper()
	g, err := opensshd.NewGPG()
	if errors.Is(err, opensshd.ErrNotInstalled) {
		t.Skipf("sshdtest: %v", err)
	}
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(g.Close)
	return &GPG{g}
}

// Run runs gpg --batch with args, stdin as input, and returns stdout.
func (g *GPG) Run(t testing.TB, stdin io.Reader, args ...string) []byte {
	t.Helper()
	return must(t)(g.GPG.Run(stdin, args...))
}

// GenKey creates a key for uid (opensshd.GPG.GenKey) and returns the
// primary key's fingerprint.
func (g *GPG) GenKey(t testing.TB, uid, algo, passphrase string) string {
	t.Helper()
	fpr, err := g.GPG.GenKey(uid, algo, passphrase)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return fpr
}

// ExportSecret returns uid's armored secret key (protected by passphrase as
// it was generated).
func (g *GPG) ExportSecret(t testing.TB, uid, passphrase string) []byte {
	t.Helper()
	return must(t)(g.GPG.ExportSecret(uid, passphrase))
}

// ExportPublic returns uid's armored public key.
func (g *GPG) ExportPublic(t testing.TB, uid string) []byte {
	t.Helper()
	return must(t)(g.GPG.ExportPublic(uid))
}

// Encrypt encrypts plaintext for recipient with extra gpg args
// (opensshd.GPG.Encrypt).
func (g *GPG) Encrypt(t testing.TB, plaintext []byte, recipient string, args ...string) []byte {
	t.Helper()
	return must(t)(g.GPG.Encrypt(plaintext, recipient, args...))
}

// EncryptFile encrypts the file in to out, for large inputs.
func (g *GPG) EncryptFile(t testing.TB, in, out, recipient string, args ...string) {
	t.Helper()
	if err := g.GPG.EncryptFile(in, out, recipient, args...); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
}

// must fails the test on an error, else returns b.
func must(t testing.TB) func(b []byte, err error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		return b
	}
}

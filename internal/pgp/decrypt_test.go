package pgp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var plaintext = []byte(strings.Repeat("user_id,email\nu1,a@example.com\n", 2000))

type bundle struct {
	gpg *sshdtest.GPG
	uid string
	key *Key
}

// setup makes a gpg home with one key of algo protected by passphrase and
// parses it.
func setup(t *testing.T, algo, passphrase string) *bundle {
	t.Helper()
	g := sshdtest.NewGPG(t)
	uid := "importer@example.com"
	g.GenKey(t, uid, algo, passphrase)
	key, err := ParsePrivateKey(g.ExportSecret(t, uid, passphrase), []byte(passphrase))
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	return &bundle{gpg: g, uid: uid, key: key}
}

func decryptAll(t *testing.T, ct []byte, opts Options) ([]byte, error) {
	t.Helper()
	r, err := NewDecryptReader(bytes.NewReader(ct), opts)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if err == nil && !r.Verified() {
		t.Fatal("clean EOF but Verified is false")
	}
	return out, err
}

func TestDecryptGPGVariants(t *testing.T) {
	t.Parallel()
	for _, algo := range []string{"default", "rsa2048"} {
		t.Run(algo, func(t *testing.T) {
			t.Parallel()
			b := setup(t, algo, "")
			for name, args := range map[string][]string{
				"binary":              nil,
				"armor":               {"--armor"},
				"uncompressed":        {"-z", "0"},
				"armor-uncompressed":  {"--armor", "-z", "0"},
				"bzip2":               {"--compress-algo", "bzip2"},
				"zlib":                {"--compress-algo", "zlib"},
				"max-compression-zip": {"-z", "9", "--compress-algo", "zip"},
			} {
				ct := b.gpg.Encrypt(t, plaintext, b.uid, args...)
				got, err := decryptAll(t, ct, Options{Key: b.key})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, plaintext) {
					t.Fatalf("%s: plaintext differs (%d vs %d bytes)", name, len(got), len(plaintext))
				}
			}
		})
	}
}

func TestPassphraseProtectedKey(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "s3cret")
	ct := b.gpg.Encrypt(t, plaintext, b.uid, "--armor")
	got, err := decryptAll(t, ct, Options{Key: b.key})
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("decrypt with unlocked key: %v", err)
	}
	armored := b.gpg.ExportSecret(t, b.uid, "s3cret")
	if _, err := ParsePrivateKey(armored, []byte("wrong")); !errors.Is(err, ErrKeyPassphrase) {
		t.Fatalf("wrong passphrase: got %v, want ErrKeyPassphrase", err)
	}
	if _, err := ParsePrivateKey(armored, nil); !errors.Is(err, ErrKeyPassphrase) {
		t.Fatalf("missing passphrase: got %v, want ErrKeyPassphrase", err)
	}
}

func TestWrongKeyNamesBothKeyIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	b.gpg.GenKey(t, "other@example.com", "default", "")
	ct := b.gpg.Encrypt(t, plaintext, "other@example.com")
	_, err := decryptAll(t, ct, Options{Key: b.key})
	var wk *WrongKeyError
	if !errors.As(err, &wk) {
		t.Fatalf("got %v, want *WrongKeyError", err)
	}
	other, _ := ParsePublicKey(b.gpg.ExportPublic(t, "other@example.com"))
	if len(wk.Recipients) != 1 || !contains(other.KeyIDs(), wk.Recipients[0]) {
		t.Fatalf("recipients %v not among the other key's ids %v", wk.Recipients, other.KeyIDs())
	}
	if !strings.Contains(err.Error(), wk.Recipients[0]) || !strings.Contains(err.Error(), b.key.KeyIDs()[0]) {
		t.Fatalf("error %q does not name both keys", err)
	}
}

func TestTamperedAndTruncated(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	ct := b.gpg.Encrypt(t, plaintext, b.uid, "-z", "0")

	tampered := bytes.Clone(ct)
	tampered[len(tampered)/2] ^= 0x01
	if _, err := decryptAll(t, tampered, Options{Key: b.key}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("tampered: got %v, want ErrIntegrity", err)
	}

	truncated := ct[:len(ct)-100]
	if _, err := decryptAll(t, truncated, Options{Key: b.key}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("truncated: got %v, want ErrIntegrity", err)
	}

	armored := b.gpg.Encrypt(t, plaintext, b.uid, "--armor")
	cut := armored[:len(armored)/2]
	if _, err := decryptAll(t, cut, Options{Key: b.key}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("truncated armor: got %v, want ErrIntegrity", err)
	}
}

func TestRequiredSigner(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	b.gpg.GenKey(t, "braze@example.com", "default", "")
	b.gpg.GenKey(t, "mallory@example.com", "default", "")
	signer, err := ParsePublicKey(b.gpg.ExportPublic(t, "braze@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Key: b.key, RequiredSigner: signer}

	good := b.gpg.Encrypt(t, plaintext, b.uid, "--sign", "--local-user", "braze@example.com", "--passphrase", "")
	if got, err := decryptAll(t, good, opts); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("signed by the required key: %v", err)
	}

	unsigned := b.gpg.Encrypt(t, plaintext, b.uid)
	if _, err := decryptAll(t, unsigned, opts); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned: got %v, want ErrSignature", err)
	}

	other := b.gpg.Encrypt(t, plaintext, b.uid, "--sign", "--local-user", "mallory@example.com", "--passphrase", "")
	if _, err := decryptAll(t, other, opts); !errors.Is(err, ErrSignature) {
		t.Fatalf("signed by another key: got %v, want ErrSignature", err)
	}
	// Without a required signer the same message decrypts.
	if _, err := decryptAll(t, other, Options{Key: b.key}); err != nil {
		t.Fatalf("no signer required: %v", err)
	}
}

func TestNotEncrypted(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	if _, err := NewDecryptReader(bytes.NewReader([]byte("a,b\n1,2\n")), Options{Key: b.key}); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("got %v, want ErrNotEncrypted", err)
	}
	if IsEncryptedMessage([]byte("a,b\n")) {
		t.Fatal("CSV detected as PGP")
	}
}

func TestMaxDecompressedSize(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	big := bytes.Repeat([]byte("0"), 4<<20)
	ct := b.gpg.Encrypt(t, big, b.uid, "-z", "9")
	if len(ct) > 64<<10 {
		t.Fatalf("expected a highly compressed message, got %d bytes", len(ct))
	}
	_, err := decryptAll(t, ct, Options{Key: b.key, MaxDecompressedSize: 1 << 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestTransportErrorIsNotIntegrity(t *testing.T) {
	t.Parallel()
	b := setup(t, "default", "")
	ct := b.gpg.Encrypt(t, plaintext, b.uid, "-z", "0")
	boom := errors.New("connection reset")
	r, err := NewDecryptReader(&failingReader{r: bytes.NewReader(ct), n: len(ct) / 2, err: boom}, Options{Key: b.key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the transport error", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

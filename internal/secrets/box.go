// Package secrets seals credentials at rest with XChaCha20-Poly1305.
//
// A sealed value is the text "v1.<key id>.<base64url(nonce|ciphertext)>". The
// key id is derived from the master key, so keys can be rotated: the first
// master key seals, every configured key opens. The additional data binds a
// sealed value to its purpose (e.g. "acct-1/auth/a_1/api_key"), so a value
// copied to another record does not open there.
package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrUnknownKey means a sealed value names a master key that is not configured.
var ErrUnknownKey = errors.New("secrets: sealed with a master key that is not configured")

// ErrCorrupt means a sealed value was altered or does not belong where it is.
var ErrCorrupt = errors.New("secrets: sealed value is corrupt or was moved")

type key struct {
	id   string
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
}

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	keys []key // keys[0] seals
}

// NewBox returns a Box for master keys of 32 bytes each; the first seals.
func NewBox(masterKeys ...[]byte) (*Box, error) {
	if len(masterKeys) == 0 {
		return nil, errors.New("secrets: no master key")
	}
	b := &Box{}
	for i, mk := range masterKeys {
		aead, err := chacha20poly1305.NewX(mk)
		if err != nil {
			return nil, fmt.Errorf("secrets: master key %d: %w", i+1, err)
		}
		b.keys = append(b.keys, key{id: KeyID(mk), aead: aead})
	}
	return b, nil
}

// KeyID is the public identifier of a master key: the first 8 hex digits of
// its SHA-256.
func KeyID(masterKey []byte) string {
	sum := sha256.Sum256(append([]byte("brazesync key id:"), masterKey...))
	return hex.EncodeToString(sum[:4])
}

// Seal encrypts plaintext for the given purpose with the first master key.
func (b *Box) Seal(purpose string, plaintext []byte) (string, error) {
	k := b.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secrets: reading random nonce: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plaintext, []byte(purpose))
	return "v1." + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value sealed for the same purpose with any configured key.
func (b *Box) Open(purpose, sealed string) ([]byte, error) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, ErrCorrupt
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrCorrupt
	}
	for _, k := range b.keys {
		if k.id != parts[1] {
			continue
		}
		n := k.aead.NonceSize()
		if len(raw) < n {
			return nil, ErrCorrupt
		}
		pt, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(purpose))
		if err != nil {
			return nil, ErrCorrupt
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, parts[1])
}

// SealingKeyID returns the id of the key that seals new values.
func (b *Box) SealingKeyID() string { return b.keys[0].id }

// NeedsResealing reports whether sealed was made with another key than the
// sealing key (after a rotation).
func (b *Box) NeedsResealing(sealed string) bool {
	parts := strings.SplitN(sealed, ".", 3)
	return len(parts) != 3 || parts[1] != b.keys[0].id
}

// Purpose is a Sealer bound to one purpose string; it satisfies consumer
// interfaces that seal and open without naming a purpose.
type Purpose struct {
	Box     *Box
	Purpose string
}

// Seal seals plaintext for p.Purpose.
func (p Purpose) Seal(plaintext []byte) (string, error) { return p.Box.Seal(p.Purpose, plaintext) }

// Open opens a value sealed for p.Purpose.
func (p Purpose) Open(sealed string) ([]byte, error) { return p.Box.Open(p.Purpose, sealed) }

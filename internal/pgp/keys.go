// Package pgp decrypts OpenPGP messages (as gpg writes them) in a stream,
// with ProtonMail/go-crypto's v2 API.
//
// The one rule callers must keep: plaintext comes out of a Reader before the
// message's integrity (MDC or AEAD tag) and signature are checked. Those
// checks happen when the message ends, so data read from a Reader is
// unverified until Read returns io.EOF; any other error means the whole
// message must be discarded. Stage what you read; apply it after io.EOF.
package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Key is a private key (with its subkeys) that decrypts messages.
type Key struct {
	entities openpgp.EntityList
}

// PublicKey is a public key whose signature a message may be required to
// carry.
type PublicKey struct {
	entities openpgp.EntityList
}

// ErrKeyPassphrase means a private key is protected and the passphrase is
// missing or wrong.
var ErrKeyPassphrase = errors.New("pgp: private key passphrase is missing or wrong")

// ParsePrivateKey reads an armored or binary private key (as
// `gpg --export-secret-keys [--armor]` writes it) and unlocks it with
// passphrase when it is protected.
//
// Unlocking costs: gpg protects exported keys with up to 65 million bytes
// of iterated SHA-1 per key and subkey, a few seconds of CPU. Parse a key
// once per authorization and reuse the Key for every file (a Key is only
// read while decrypting).
func ParsePrivateKey(data, passphrase []byte) (*Key, error) {
	el, err := readKeyRing(data)
	if err != nil {
		return nil, fmt.Errorf("pgp: reading private key: %w", err)
	}
	hasPrivate := false
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		hasPrivate = true
		if err := decryptEntity(e, passphrase); err != nil {
			return nil, fmt.Errorf("pgp: unlocking key %s: %w", keyIDString(e.PrimaryKey.KeyId), err)
		}
	}
	if !hasPrivate {
		return nil, errors.New("pgp: the key holds no private key (is it a public key?)")
	}
	return &Key{entities: el}, nil
}

func decryptEntity(e *openpgp.Entity, passphrase []byte) error {
	encrypted := e.PrivateKey != nil && e.PrivateKey.Encrypted
	for _, sub := range e.Subkeys {
		if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
			encrypted = true
		}
	}
	if !encrypted {
		return nil
	}
	if len(passphrase) == 0 {
		return ErrKeyPassphrase
	}
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyPassphrase, err)
	}
	return nil
}

// ParsePublicKey reads an armored or binary public key.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	el, err := readKeyRing(data)
	if err != nil {
		return nil, fmt.Errorf("pgp: reading public key: %w", err)
	}
	return &PublicKey{entities: el}, nil
}

func readKeyRing(data []byte) (openpgp.EntityList, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return nil, fmt.Errorf("decoding armor: %w", err)
		}
		return openpgp.ReadKeyRing(block.Body)
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// KeyIDs lists the key ids of the key and its subkeys as "0x" + 16 hex
// digits; messages are encrypted to one of them.
func (k *Key) KeyIDs() []string { return entityKeyIDs(k.entities) }

// KeyIDs lists the key ids of the public key and its subkeys.
func (p *PublicKey) KeyIDs() []string { return entityKeyIDs(p.entities) }

// Fingerprint is the primary key's fingerprint in upper-case hex.
func (p *PublicKey) Fingerprint() string {
	if len(p.entities) == 0 {
		return ""
	}
	return strings.ToUpper(fmt.Sprintf("%x", p.entities[0].PrimaryKey.Fingerprint))
}

func entityKeyIDs(el openpgp.EntityList) []string {
	var ids []string
	for _, e := range el {
		ids = append(ids, keyIDString(e.PrimaryKey.KeyId))
		for _, s := range e.Subkeys {
			ids = append(ids, keyIDString(s.PublicKey.KeyId))
		}
	}
	return ids
}

func keyIDString(id uint64) string { return fmt.Sprintf("0x%016X", id) }

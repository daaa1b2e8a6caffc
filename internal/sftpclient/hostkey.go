package sftpclient

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// HostKeyMismatchError means the server presented another host key than
// the pinned one. It may be a reinstalled server or an attack; a person
// must look.
type HostKeyMismatchError struct {
	Host string
	Want string        // pinned fingerprint, "SHA256:..."
	Got  string        // presented fingerprint, "SHA256:..."
	Key  ssh.PublicKey // the key the server presented
	// Others are the server's other host keys, "<type> SHA256:...", when
	// the pin is a bare fingerprint and each type was asked for.
	Others []string
}

func (e *HostKeyMismatchError) Error() string {
	msg := fmt.Sprintf("sftp: host key mismatch for %s: pinned %s, server presented %s %s",
		e.Host, e.Want, e.Key.Type(), e.Got)
	if len(e.Others) > 0 {
		msg += " and " + strings.Join(e.Others, ", ")
	}
	return msg
}

// pin is a parsed Config.HostKey.
type pin struct {
	key         ssh.PublicKey // nil for a bare fingerprint
	fingerprint string
}

// parsePin reads an authorized_keys line, a known_hosts line or a
// "SHA256:" fingerprint.
func parsePin(s string) (pin, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "SHA256:") {
		if len(s) < len("SHA256:")+43 {
			return pin{}, fmt.Errorf("sftp config: host_key fingerprint %q is too short", s)
		}
		return pin{fingerprint: s}, nil
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return pin{key: k, fingerprint: ssh.FingerprintSHA256(k)}, nil
	}
	if _, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return pin{key: k, fingerprint: ssh.FingerprintSHA256(k)}, nil
	}
	return pin{}, fmt.Errorf("sftp config: host_key is neither a known_hosts or authorized_keys line nor a SHA256: fingerprint")
}

// algorithms returns the host key algorithms to ask for so that a server
// with several host keys shows the pinned one (nil: library default).
func (p pin) algorithms() []string {
	if p.key == nil {
		return nil
	}
	switch p.key.Type() {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{p.key.Type()}
	}
}

func (p pin) callback(host string) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		got := ssh.FingerprintSHA256(key)
		ok := false
		if p.key != nil {
			ok = bytes.Equal(p.key.Marshal(), key.Marshal())
		} else {
			ok = subtle.ConstantTimeCompare([]byte(got), []byte(p.fingerprint)) == 1
		}
		if !ok {
			return &HostKeyMismatchError{Host: host, Want: p.fingerprint, Got: got, Key: key}
		}
		return nil
	}
}

// AuthorizedKey formats a host key as an authorized_keys line, the form
// to store as an authorization's host_key.
func AuthorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

package authorizations

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/pgp"
	"golang.org/x/crypto/ssh"
)

// sftpConfig are the settings every SFTP authorization takes.
var sftpConfig = []string{"host", "port", "username", "folder", "host_key"}

// sftpLogin are the secrets an SFTP authorization sends to its server.
var sftpLogin = []string{"password", "private_key", "passphrase"}

// SFTPDestination is where an SFTP authorization logs in: user, host (case
// folded) and port. Its host_key is the pin.
func SFTPDestination(a *Authorization) string {
	host, _ := ConfigString(a.Config, "host")
	port, _ := ConfigInt(a.Config, "port", 22, 1, 65535)
	user, _ := ConfigString(a.Config, "username")
	return fmt.Sprintf("sftp %q %q %d", user, strings.ToLower(strings.TrimSpace(host)), port)
}

// sftpBinding binds the login secrets of an SFTP type to its destination.
func sftpBinding(t Type) Type {
	t.Destination = SFTPDestination
	t.DestinationKeys = []string{"host", "port", "username"}
	t.PinKey = "host_key"
	t.BoundSecrets = sftpLogin
	return t
}

// SFTPType is the "sftp" authorization: the customer's SFTP server, with a
// password and/or an OpenSSH private key (the key is tried first). A
// literal host that policy refuses is a *DestinationError.
func SFTPType(policy *egress.Policy) Type {
	return sftpBinding(Type{
		Name:    "sftp",
		Config:  sftpConfig,
		Secrets: sftpLogin,
		Validate: func(a *Authorization, secrets map[string]string) error {
			return validateSFTP(a, secrets, policy)
		},
	})
}

// SFTPPGPType is the "sftp_pgp" authorization: an SFTP server whose files
// are OpenPGP-encrypted for the authorization's private key; with
// config.signer_public_key every file must carry that key's signature.
// The PGP key never leaves brazesync, so a destination change keeps it.
func SFTPPGPType(policy *egress.Policy) Type {
	return sftpBinding(Type{
		Name:    "sftp_pgp",
		Config:  append(append([]string{}, sftpConfig...), "signer_public_key"),
		Secrets: append(append([]string{}, sftpLogin...), "pgp_private_key", "pgp_passphrase"),
		Validate: func(a *Authorization, secrets map[string]string) error {
			if err := validateSFTP(a, secrets, policy); err != nil {
				return err
			}
			if secrets["pgp_private_key"] == "" {
				return &fault.ValidationError{Field: "secrets.pgp_private_key", Message: "is required: the armored OpenPGP private key the files are encrypted for"}
			}
			if _, err := pgp.ParsePrivateKey([]byte(secrets["pgp_private_key"]), []byte(secrets["pgp_passphrase"])); err != nil {
				field := "secrets.pgp_private_key"
				if strings.Contains(err.Error(), "passphrase") {
					field = "secrets.pgp_passphrase"
				}
				return &fault.ValidationError{Field: field, Message: err.Error()}
			}
			signer, err := ConfigString(a.Config, "signer_public_key")
			if err != nil {
				return err
			}
			if signer != "" {
				if _, err := pgp.ParsePublicKey([]byte(signer)); err != nil {
					return &fault.ValidationError{Field: "config.signer_public_key", Message: err.Error()}
				}
			}
			return nil
		},
	})
}

func validateSFTP(a *Authorization, secrets map[string]string, policy *egress.Policy) error {
	host, err := ConfigString(a.Config, "host")
	if err != nil {
		return err
	}
	if host == "" || strings.ContainsAny(host, " /@") {
		return &fault.ValidationError{Field: "config.host", Message: "is required: the SFTP server's host name or address"}
	}
	if err := policy.CheckHost(host); err != nil {
		return &DestinationError{"config.host", err}
	}
	if _, err := ConfigInt(a.Config, "port", 22, 1, 65535); err != nil {
		return err
	}
	if user, err := ConfigString(a.Config, "username"); err != nil {
		return err
	} else if user == "" {
		return &fault.ValidationError{Field: "config.username", Message: "is required"}
	}
	if _, err := ConfigString(a.Config, "folder"); err != nil {
		return err
	}
	if hk, err := ConfigString(a.Config, "host_key"); err != nil {
		return err
	} else if hk != "" {
		if err := CheckHostKey(hk); err != nil {
			return &fault.ValidationError{Field: "config.host_key", Message: err.Error()}
		}
	}
	if secrets["password"] == "" && secrets["private_key"] == "" {
		return &fault.ValidationError{Field: "secrets.password", Message: "a password or a private_key is required"}
	}
	if k := secrets["private_key"]; k != "" {
		var err error
		if p := secrets["passphrase"]; p != "" {
			_, err = ssh.ParsePrivateKeyWithPassphrase([]byte(k), []byte(p))
		} else {
			_, err = ssh.ParsePrivateKey([]byte(k))
		}
		var missing *ssh.PassphraseMissingError
		switch {
		case err == nil:
		case errors.As(err, &missing):
			return &fault.ValidationError{Field: "secrets.passphrase", Message: "is required: the private key is protected"}
		case errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "passphrase") || strings.Contains(err.Error(), "decryption"):
			return &fault.ValidationError{Field: "secrets.passphrase", Message: "does not open the private key"}
		default:
			return &fault.ValidationError{Field: "secrets.private_key", Message: "is not an OpenSSH or PEM private key: " + err.Error()}
		}
	}
	return nil
}

// CheckHostKey checks a pinned host key: an authorized_keys line, a
// known_hosts line or a "SHA256:" fingerprint.
func CheckHostKey(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "SHA256:") {
		if len(s) < len("SHA256:")+43 {
			return fmt.Errorf("fingerprint %q is too short", s)
		}
		return nil
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return nil
	}
	if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return nil
	}
	return fmt.Errorf("is neither a known_hosts or authorized_keys line nor a SHA256: fingerprint")
}

package authorizations

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"golang.org/x/crypto/ssh"
)

func sshKey(t *testing.T, passphrase string) (private string, public ssh.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return string(pem.EncodeToMemory(block)), sp
}

func TestSFTPValidation(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	box, _ := secrets.NewBox(bytes.Repeat([]byte{1}, 32))
	s := New(rdb, ns, box, NewRegistry(SFTPType(nil), SFTPPGPType(nil)))
	ctx := context.Background()
	key, pub := sshKey(t, "")
	locked, _ := sshKey(t, "open sesame")
	hostKey := string(ssh.MarshalAuthorizedKey(pub))
	base := map[string]any{"host": "sftp.example.com", "username": "acme", "folder": "/in"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		typ     string
		cfg     map[string]any
		secrets map[string]string
		field   string
	}{
		{"sftp", with(map[string]any{"host": ""}), map[string]string{"password": "p"}, "config.host"},
		{"sftp", with(map[string]any{"port": 70000.0}), map[string]string{"password": "p"}, "config.port"},
		{"sftp", with(map[string]any{"username": ""}), map[string]string{"password": "p"}, "config.username"},
		{"sftp", with(nil), map[string]string{}, "secrets.password"},
		{"sftp", with(map[string]any{"host_key": "not a key"}), map[string]string{"password": "p"}, "config.host_key"},
		{"sftp", with(nil), map[string]string{"private_key": "garbage"}, "secrets.private_key"},
		{"sftp", with(nil), map[string]string{"private_key": locked}, "secrets.passphrase"},
		{"sftp", with(nil), map[string]string{"private_key": locked, "passphrase": "wrong"}, "secrets.passphrase"},
		{"sftp_pgp", with(nil), map[string]string{"password": "p"}, "secrets.pgp_private_key"},
		{"sftp_pgp", with(nil), map[string]string{"password": "p", "pgp_private_key": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nnope\n-----END PGP PRIVATE KEY BLOCK-----"}, "secrets.pgp_private_key"},
	}
	for _, c := range cases {
		label := "x"
		_, _, err := s.Create(ctx, "acme", Input{Type: c.typ, Label: &label, Config: c.cfg, Secrets: c.secrets})
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s %v: want error on %s, got %v", c.typ, c.cfg, c.field, err)
		}
	}
	for _, ok := range []struct {
		cfg     map[string]any
		secrets map[string]string
	}{
		{with(map[string]any{"host_key": hostKey}), map[string]string{"private_key": key}},
		{with(map[string]any{"host_key": ssh.FingerprintSHA256(pub), "port": 2222.0}), map[string]string{"password": "p", "private_key": locked, "passphrase": "open sesame"}},
		{with(map[string]any{"host_key": "[sftp.example.com]:2222 " + hostKey}), map[string]string{"password": "p"}},
	} {
		label := "ok"
		if _, _, err := s.Create(ctx, "acme", Input{Type: "sftp", Label: &label, Config: ok.cfg, Secrets: ok.secrets}); err != nil {
			t.Errorf("valid sftp authorization refused: %v", err)
		}
	}
}

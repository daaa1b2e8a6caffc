package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/sftpd"
	"golang.org/x/crypto/ssh"
)

// TestManagedAuthorizationLifecycle: a client may not choose the managed
// settings; deleting the authorization removes its user and its files; the
// API and sftpd agree on the host key.
func TestManagedAuthorizationLifecycle(t *testing.T) {
	t.Parallel()
	b := setupManaged(t)
	ctx := context.Background()
	for field, body := range map[string]map[string]any{
		"config.host":      {"config": map[string]any{"host": "evil.example.com"}},
		"config.folder":    {"config": map[string]any{"folder": "/in"}},
		"secrets.password": {"secrets": map[string]string{"password": "chosen-by-client-123"}},
	} {
		body["type"], body["label"] = "sftp_managed", "x"
		code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", b.admin, body)
		if code != 422 || out["error"].(map[string]any)["field"] != field {
			t.Errorf("%s given by the client: %d %v", field, code, out)
		}
	}
	if users, _ := b.app.rdb.Keys(ctx, "*sftp:user:*").Result(); len(users) != 0 {
		t.Fatalf("a refused authorization left users behind: %v", users)
	}
	code, au := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", b.admin, map[string]any{"type": "sftp_managed", "label": "uploads"})
	if code != 201 || au["config"].(map[string]any)["folder"] != "/" {
		t.Fatalf("create: %d %v", code, au)
	}
	id := au["id"].(string)
	username := au["config"].(map[string]any)["username"].(string)
	sealer := sftpd.HostKeySealer(b.app.box)
	fp, err := sftpd.HostKeyFingerprint(ctx, b.app.rdb, b.app.ns, sealer)
	if err != nil || fp != ssh.FingerprintSHA256(b.serverHostKey(t)) || au["config"].(map[string]any)["host_key"] != fp {
		t.Fatalf("host keys differ: stored %s (err %v), authorization %v", fp, err, au["config"])
	}
	// The workers' credentials log in, with the key and with the password.
	_, sec, err := b.app.auths.Credentials(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(sec["private_key"]))
	if err != nil {
		t.Fatalf("workers' key: %v", err)
	}
	if ssh.FingerprintSHA256(signer.PublicKey()) != au["config"].(map[string]any)["worker_key"] {
		t.Fatalf("config.worker_key %v is not the stored key's", au["config"])
	}
	for name, auth := range map[string]ssh.AuthMethod{"key": ssh.PublicKeys(signer), "password": ssh.Password(sec["password"])} {
		conn, err := ssh.Dial("tcp", b.sftpAddr, &ssh.ClientConfig{User: username, Auth: []ssh.AuthMethod{auth},
			HostKeyCallback: ssh.FixedHostKey(b.serverHostKey(t)), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("login with the stored %s: %v", name, err)
		}
		conn.Close()
	}
	dir, _ := sftpd.UserDir(b.dataDir, "acme", username)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte(managedBrazeCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	// The connection test of the API works on managed authorizations too.
	code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations/"+id+"/test", b.admin, nil)
	if res, _ := out["result"].(map[string]any); code != 200 || out["ok"] != true || res["files"] != 1.0 || res["host_key_pinned"] != true {
		t.Fatalf("test: %d %v", code, out)
	}
	if code, out := b.do(t, "DELETE", "/api/v1/accounts/acme/authorizations/"+id, b.admin, nil); code != 204 {
		t.Fatalf("delete: %d %v", code, out)
	}
	if _, err := b.app.auths.Get(ctx, "acme", id); err == nil {
		t.Fatal("the authorization is still there")
	}
	users, _ := sftpd.NewUserStore(b.app.rdb, b.app.ns, 4)
	if _, err := users.LookupUser(ctx, username); !errors.Is(err, sftpd.ErrNoUser) {
		t.Fatalf("the user survived its authorization: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the user's files survived its authorization: %v", err)
	}
}

// TestManagedUsernameCannotBeRetargeted: an account admin cannot point its
// sftp_managed authorization at another account's managed user, or at
// fresh names, and so cannot drive failed logins against them through
// the connection test; the other account's password and workers' key
// still log in after the attempts.
func TestManagedUsernameCannotBeRetargeted(t *testing.T) {
	t.Parallel()
	b := setupManaged(t)
	if code, out := b.do(t, "POST", "/api/v1/accounts", managedOperatorToken, map[string]any{"id": "beta", "name": "Beta"}); code != 201 {
		t.Fatalf("create account: %d %v", code, out)
	}
	code, out := b.do(t, "POST", "/api/v1/accounts/beta/tokens", managedOperatorToken, map[string]any{"name": "admin", "scopes": []string{"admin"}})
	if code != 201 {
		t.Fatalf("create token: %d %v", code, out)
	}
	betaAdmin := out["token"].(string)
	code, mine := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", b.admin, map[string]any{"type": "sftp_managed", "label": "mine"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, mine)
	}
	code, theirs := b.do(t, "POST", "/api/v1/accounts/beta/authorizations", betaAdmin, map[string]any{"type": "sftp_managed", "label": "theirs"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, theirs)
	}
	mineID := mine["id"].(string)
	myName := mine["config"].(map[string]any)["username"].(string)
	theirName := theirs["config"].(map[string]any)["username"].(string)
	for _, v := range []any{theirName, "fresh-name-123", nil, ""} {
		code, out := b.do(t, "PATCH", "/api/v1/accounts/acme/authorizations/"+mineID, b.admin, map[string]any{"config": map[string]any{"username": v}})
		e, _ := out["error"].(map[string]any)
		if code != 422 || e["code"] != "invalid" || e["field"] != "config.username" {
			t.Errorf("PATCH config.username to %v: %d %v", v, code, out)
		}
	}
	code, out = b.do(t, "PATCH", "/api/v1/accounts/acme/authorizations/"+mineID, b.admin, map[string]any{"config": map[string]any{"worker_key": "SHA256:xyz"}})
	if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "config.worker_key" {
		t.Errorf("PATCH config.worker_key: %d %v", code, out)
	}
	code, out = b.do(t, "PATCH", "/api/v1/accounts/acme/authorizations/"+mineID, b.admin, map[string]any{"label": "renamed", "config": map[string]any{"username": myName}})
	if code != 200 || out["label"] != "renamed" {
		t.Fatalf("PATCH repeating the username: %d %v", code, out)
	}
	// A wrong password and no key on acme's own authorization: its tests
	// fail logins of acme's own user only.
	code, out = b.do(t, "PATCH", "/api/v1/accounts/acme/authorizations/"+mineID, b.admin, map[string]any{"secrets": map[string]string{"password": "wrong-password-123", "private_key": ""}})
	if code != 200 {
		t.Fatalf("PATCH secrets: %d %v", code, out)
	}
	for range 8 {
		if code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations/"+mineID+"/test", b.admin, nil); code != 200 || out["ok"] != false {
			t.Fatalf("test with a wrong password: %d %v", code, out)
		}
	}
	_, sec, err := b.app.auths.Credentials(context.Background(), "beta", theirs["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(sec["private_key"]))
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]ssh.AuthMethod{"workers' key": ssh.PublicKeys(signer), "password": ssh.Password(sec["password"])} {
		conn, err := ssh.Dial("tcp", b.sftpAddr, &ssh.ClientConfig{User: theirName, Auth: []ssh.AuthMethod{auth},
			HostKeyCallback: ssh.FixedHostKey(b.serverHostKey(t)), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("beta's %s after acme's failed tests: %v", name, err)
		}
		conn.Close()
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/beta/authorizations/"+theirs["id"].(string)+"/test", betaAdmin, nil); code != 200 || out["ok"] != true {
		t.Fatalf("beta's connection test after acme's failed tests: %d %v", code, out)
	}
}

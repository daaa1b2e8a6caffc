package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/sftpd"
	"golang.org/x/crypto/ssh"
)

// setupManaged is the API with the public keys routes and a minimal
// sftp_managed type whose Provision creates the SFTP user with a workers'
// key (the real type is wired in cmd/brazesync).
func setupManaged(t *testing.T) (*bundle, *sftpd.UserStore) {
	t.Helper()
	var g ManagedSFTP
	b := setup(t, &g)
	users, err := sftpd.NewUserStore(b.rdb, keyspace.Namespace(b.ns), 4)
	if err != nil {
		t.Fatal(err)
	}
	g = ManagedSFTP{Accounts: b.accounts, Authorizations: b.auths, Users: users}
	ok := func(*authorizations.Authorization, map[string]string) error { return nil }
	b.auths.Types().Add(authorizations.Type{Name: "sftp_managed", Config: []string{"username", "worker_key"}, Secrets: []string{"password"}, Validate: ok,
		Provision: func(ctx context.Context, a *authorizations.Authorization, sec map[string]string) (map[string]any, error) {
			username, password, err := users.CreateUser(ctx, a.Account, a.ID)
			if err != nil {
				return nil, err
			}
			workerKey, _ := newAuthorizedKey(t)
			if a.Config["worker_key"], err = users.AddPublicKey(ctx, a.Account, username, workerKey); err != nil {
				return nil, err
			}
			a.Config["username"] = username
			sec["password"] = password
			return map[string]any{"password": password}, nil
		}})
	b.auths.Types().Add(authorizations.Type{Name: "sftp", Config: []string{"username"}, Validate: ok})
	return b, users
}

func newAuthorizedKey(t *testing.T) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " someone@laptop", ssh.FingerprintSHA256(k)
}

func TestManagedSFTPPublicKeys(t *testing.T) {
	t.Parallel()
	b, users := setupManaged(t)
	toks := b.account(t, "acme")
	code, au := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", toks["admin"], map[string]any{"type": "sftp_managed", "label": "uploads"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, au)
	}
	if pw, _ := au["shown_once"].(map[string]any)["password"].(string); len(pw) < 12 {
		t.Fatalf("no password shown once: %v", au)
	}
	id := au["id"].(string)
	username := au["config"].(map[string]any)["username"].(string)
	keys := "/api/v1/accounts/acme/authorizations/" + id + "/public_keys"

	line, fp := newAuthorizedKey(t)
	if code, out := b.do(t, "POST", keys, toks["data_manager"], map[string]any{"public_key": line}); code != 403 {
		t.Fatalf("a data_manager token added a key: %d %v", code, out)
	}
	code, out := b.do(t, "POST", keys, toks["admin"], map[string]any{"public_key": line})
	if code != 201 || out["fingerprint"] != fp || !strings.HasPrefix(out["public_key"].(string), "ssh-ed25519 ") {
		t.Fatalf("add: %d %v, want fingerprint %s", code, out, fp)
	}
	for _, bad := range []any{"ssh-ed25519 notbase64", "", line + "\n" + line, 42} {
		if code, out := b.do(t, "POST", keys, toks["admin"], map[string]any{"public_key": bad}); code != 422 || out["error"].(map[string]any)["field"] != "public_key" {
			t.Errorf("bad key %q: %d %v", bad, code, out)
		}
	}
	line2, fp2 := newAuthorizedKey(t)
	if code, out := b.do(t, "POST", keys, toks["admin"], map[string]any{"public_key": line2}); code != 201 {
		t.Fatalf("add second key: %d %v", code, out)
	}

	code, out = b.do(t, "GET", keys, toks["read"], nil)
	if code != 200 || len(out["data"].([]any)) != 3 {
		t.Fatalf("list: %d %v", code, out)
	}
	workerFP := au["config"].(map[string]any)["worker_key"].(string)
	for _, k := range out["data"].([]any) {
		k := k.(map[string]any)
		if (k["fingerprint"] == workerFP) != (k["worker"] == true) {
			t.Errorf("key %v: worker flag wrong (workers' key %s)", k, workerFP)
		}
	}
	stored, err := users.ListPublicKeys(context.Background(), "acme", username)
	if err != nil || len(stored) != 3 {
		t.Fatalf("the user store holds %v (err %v), want the three keys", stored, err)
	}
	if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(workerFP), toks["admin"], nil); code != 409 {
		t.Fatalf("the workers' key was removed: %d %v", code, out)
	}

	// DELETE takes the fingerprint URL-escaped ('/' and '+' occur in it),
	// with or without its SHA256: prefix.
	if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(fp), toks["read"], nil); code != 403 {
		t.Fatalf("a read token removed a key: %d %v", code, out)
	}
	if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(fp), toks["admin"], nil); code != 204 {
		t.Fatalf("remove: %d %v", code, out)
	}
	if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(fp), toks["admin"], nil); code != 404 {
		t.Fatalf("remove again: %d %v", code, out)
	}
	if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(strings.TrimPrefix(fp2, "SHA256:")), toks["admin"], nil); code != 204 {
		t.Fatalf("remove without prefix: %d %v", code, out)
	}
	if _, out := b.do(t, "GET", keys, toks["read"], nil); len(out["data"].([]any)) != 1 {
		t.Fatalf("keys left after removal: %v, want only the workers' key", out)
	}
}

func TestManagedSFTPPublicKeysOnlyForManagedAuthorizations(t *testing.T) {
	t.Parallel()
	b, _ := setupManaged(t)
	toks := b.account(t, "acme")
	other := b.account(t, "other")
	_, sftp := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", toks["admin"], map[string]any{"type": "sftp", "label": "customer server", "config": map[string]any{"username": "u"}})
	_, managed := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", toks["admin"], map[string]any{"type": "sftp_managed", "label": "uploads"})
	line, fp := newAuthorizedKey(t)
	for _, id := range []string{sftp["id"].(string), "au_missing"} {
		keys := "/api/v1/accounts/acme/authorizations/" + id + "/public_keys"
		if code, out := b.do(t, "POST", keys, toks["admin"], map[string]any{"public_key": line}); code != 404 {
			t.Errorf("add to %s: %d %v", id, code, out)
		}
		if code, out := b.do(t, "GET", keys, toks["admin"], nil); code != 404 {
			t.Errorf("list of %s: %d %v", id, code, out)
		}
		if code, out := b.do(t, "DELETE", keys+"/"+url.PathEscape(fp), toks["admin"], nil); code != 404 {
			t.Errorf("remove from %s: %d %v", id, code, out)
		}
	}
	keys := "/api/v1/accounts/acme/authorizations/" + managed["id"].(string) + "/public_keys"
	if code, out := b.do(t, "POST", keys, other["admin"], map[string]any{"public_key": line}); code != 403 {
		t.Errorf("another account's admin added a key: %d %v", code, out)
	}
	// The same authorization id under another account is not found.
	if code, out := b.do(t, "GET", "/api/v1/accounts/other/authorizations/"+managed["id"].(string)+"/public_keys", other["admin"], nil); code != 404 {
		t.Errorf("authorization of acme under other: %d %v", code, out)
	}
	// An authorization whose config names a user it did not create.
	label := "impostor"
	au, _, err := b.auths.Create(context.Background(), "acme", authorizations.Input{Type: "sftp_managed", Label: &label})
	if err != nil {
		t.Fatal(err)
	}
	victim := managed["config"].(map[string]any)["username"].(string)
	if _, err := b.auths.Update(context.Background(), "acme", au.ID, authorizations.Input{Config: map[string]any{"username": victim}}); err != nil {
		t.Fatal(err)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations/"+au.ID+"/public_keys", toks["admin"], map[string]any{"public_key": line}); code != 404 {
		t.Errorf("a key was added to another authorization's user: %d %v", code, out)
	}
}

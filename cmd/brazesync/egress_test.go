package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/sftpd"
	"github.com/brazesync/brazesync/internal/testutil/sshcapture"
	"golang.org/x/crypto/ssh"
)

const authorizationsPath = "/api/v1/accounts/acme/authorizations"

// loginKey is a private key for an sftp authorization and its public key
// as an authorized_keys line.
func loginKey(t *testing.T) (private, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

// test calls POST .../test and returns the answer and its result.
func (b *managedBundle) test(t *testing.T, id, query string) (map[string]any, map[string]any) {
	t.Helper()
	code, out := b.do(t, "POST", authorizationsPath+"/"+id+"/test"+query, b.admin, nil)
	if code != 200 {
		t.Fatalf("test %s: %d %v", id, code, out)
	}
	res, _ := out["result"].(map[string]any)
	return out, res
}

// TestSFTPCredentialsReachOnlyAPinnedServer drives the API against two
// capturing SSH servers that record every password, keyboard-interactive
// answer and public key offered. Testing an unpinned authorization sends
// none; pointing the authorization at another server without its secrets
// is refused, and with a new password only that password reaches it.
func TestSFTPCredentialsReachOnlyAPinnedServer(t *testing.T) {
	t.Parallel()
	b := setupManagedEnv(t, map[string]string{"BRAZESYNC_EGRESS_ALLOW": "127.0.0.0/8"})
	first, second := sshcapture.Start(t), sshcapture.Start(t)
	key, keyPub := loginKey(t)
	const oldPassword, newPassword = "first-password-9d2c", "second-password-41aa"
	code, au := b.do(t, "POST", authorizationsPath, b.admin, map[string]any{"type": "sftp", "label": "customer",
		"config":  map[string]any{"host": first.Host, "port": first.Port, "username": "acme"},
		"secrets": map[string]string{"password": oldPassword, "private_key": key}})
	if code != 201 {
		t.Fatalf("create: %d %v", code, au)
	}
	id := au["id"].(string)

	// Unpinned: a handshake only, whatever ?pin says.
	out, res := b.test(t, id, "")
	if out["ok"] != true || res["authenticated"] != false || res["host_key_pinned"] != false || res["host_key"] != first.HostKeyAuthorized {
		t.Fatalf("unpinned test: %v", out)
	}
	out, res = b.test(t, id, "?pin=true")
	if out["ok"] != true || res["authenticated"] != false || res["host_key_pinned"] != true {
		t.Fatalf("pinning test: %v", out)
	}
	if got := first.Attempts(); len(got) != 0 || first.Connections() != 2 {
		t.Fatalf("before the key was pinned the server saw %d connections and attempts %+v", first.Connections(), got)
	}
	// Pinned: the test logs in (the server refuses everyone).
	out, _ = b.test(t, id, "")
	if out["ok"] != false || out["code"] != "auth_failed" || !first.Saw(oldPassword) || !first.Saw(keyPub) {
		t.Fatalf("pinned test: %v; server saw %+v", out, first.Attempts())
	}

	// Another server without the secrets again: refused, nothing changes.
	move := map[string]any{"host": second.Host, "port": second.Port, "host_key": nil}
	code, out = b.do(t, "PATCH", authorizationsPath+"/"+id, b.admin, map[string]any{"config": move})
	if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "secrets.password" || !strings.Contains(e["message"].(string), "cleared the stored password, private_key") {
		t.Fatalf("move without secrets: %d %v", code, out)
	}
	b.test(t, id, "")
	if second.Connections() != 0 {
		t.Fatalf("a refused move reached the other server")
	}
	// With a new password: the old secrets are gone.
	code, out = b.do(t, "PATCH", authorizationsPath+"/"+id, b.admin, map[string]any{"config": move, "secrets": map[string]string{"password": newPassword}})
	if code != 200 || len(out["secrets_set"].([]any)) != 1 || out["secrets_set"].([]any)[0] != "password" {
		t.Fatalf("move with a new password: %d %v", code, out)
	}
	if out, res := b.test(t, id, ""); out["ok"] != true || res["authenticated"] != false || res["host_key"] != second.HostKeyAuthorized {
		t.Fatalf("unpinned test of the moved authorization: %v", out)
	}
	if len(second.Attempts()) != 0 {
		t.Fatalf("an unpinned test sent credentials: %+v", second.Attempts())
	}
	b.test(t, id, "?pin=true")
	if out, _ := b.test(t, id, ""); out["code"] != "auth_failed" || !second.Saw(newPassword) {
		t.Fatalf("pinned test of the moved authorization: %v; server saw %+v", out, second.Attempts())
	}
	if second.Saw(oldPassword) || second.Saw(keyPub) {
		t.Fatalf("a stored secret followed the authorization to another server: %+v", second.Attempts())
	}
	methods := map[string]bool{}
	for _, a := range second.Attempts() {
		methods[a.Method] = true
	}
	if !methods["password"] || !methods["keyboard-interactive"] {
		t.Fatalf("the new password was not offered both ways: %+v", second.Attempts())
	}

	// A closed port and a port of another service read alike.
	closed := freeAddr(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-served })
	for _, addr := range []string{closed, ln.Addr().String()} {
		host, port, _ := net.SplitHostPort(addr)
		code, au := b.do(t, "POST", authorizationsPath, b.admin, map[string]any{"type": "sftp", "label": "scan",
			"config": map[string]any{"host": host, "port": atoi(t, port), "username": "u"}, "secrets": map[string]string{"password": "p"}})
		if code != 201 {
			t.Fatalf("create: %d %v", code, au)
		}
		out, _ := b.test(t, au["id"].(string), "")
		if out["ok"] != false || out["code"] != "no_ssh_server" || out["error"] != "no SSH server answered at "+addr {
			t.Fatalf("test of %s: %v", addr, out)
		}
	}
}

// TestInternalDestinationsAreRefused: with no BRAZESYNC_EGRESS_ALLOW,
// internal addresses are refused when they are saved (422
// destination_forbidden naming the field) and, for a name, when the
// connection test dials it; the managed server of sftp_managed
// authorizations, on loopback here, needs no allow entry.
func TestInternalDestinationsAreRefused(t *testing.T) {
	t.Parallel()
	b := setupManagedEnv(t, nil)
	for _, c := range []struct {
		typ, field string
		config     map[string]any
	}{
		{"sftp", "config.host", map[string]any{"host": "127.0.0.1", "port": 6379, "username": "u"}},
		{"sftp", "config.host", map[string]any{"host": "169.254.169.254", "username": "u"}},
		{"sftp_pgp", "config.host", map[string]any{"host": "0x7f000001", "username": "u"}},
		{"braze", "config.rest_endpoint", map[string]any{"rest_endpoint": "https://127.0.0.1:9200"}},
		{"braze", "config.rest_endpoint", map[string]any{"rest_endpoint": "https://[::1]"}},
		{"braze", "config.rest_endpoint", map[string]any{"rest_endpoint": "https://0x7f000001"}},
		{"braze", "config.rest_endpoint", map[string]any{"rest_endpoint": "https://localhost"}},
		{"braze", "config.rest_endpoint", map[string]any{"rest_endpoint": "https://169.254.169.254/"}},
	} {
		sec := map[string]string{"password": "p"}
		if c.typ == "braze" {
			sec = map[string]string{"api_key": "k"}
		}
		code, out := b.do(t, "POST", authorizationsPath, b.admin, map[string]any{"type": c.typ, "label": "x", "config": c.config, "secrets": sec})
		e, _ := out["error"].(map[string]any)
		if code != 422 || e["code"] != egress.Code || e["field"] != c.field {
			t.Errorf("%s %v: %d %v", c.typ, c.config, code, out)
		}
	}
	for _, ep := range []string{"http://rest.iad-01.braze.com", "https://user:hunter2@rest.iad-01.braze.com", "https://rest.iad-01.braze.com/?a=1", "https://braze.example.com"} {
		code, out := b.do(t, "POST", authorizationsPath, b.admin, map[string]any{"type": "braze", "label": "x",
			"config": map[string]any{"rest_endpoint": ep}, "secrets": map[string]string{"api_key": "k"}})
		e, _ := out["error"].(map[string]any)
		if code != 422 || e["code"] != "invalid" || e["field"] != "config.rest_endpoint" || strings.Contains(e["message"].(string), "hunter2") {
			t.Errorf("%s: %d %v", ep, code, out)
		}
	}

	// A name that resolves to loopback, saved while the operator allowed
	// it: the test refuses it at dial time, before connecting.
	srv := sshcapture.Start(t)
	allow := egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	lenient := authorizations.New(b.app.rdb, b.app.ns, b.app.box, authorizations.NewRegistry(authorizations.SFTPType(allow)))
	label := "lenient"
	a, _, err := lenient.Create(context.Background(), "acme", authorizations.Input{Type: "sftp", Label: &label,
		Config: map[string]any{"host": "localhost", "port": srv.Port, "username": "u"}, Secrets: map[string]string{"password": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?pin=true"} {
		out, _ := b.test(t, a.ID, q)
		if out["ok"] != false || out["code"] != egress.Code || !strings.Contains(out["error"].(string), "resolves to a loopback address") {
			t.Fatalf("test%s of a name resolving to loopback: %v", q, out)
		}
	}
	if srv.Connections() != 0 {
		t.Fatalf("a refused destination got %d connections", srv.Connections())
	}

	// The managed server (SFTP_PUBLIC_HOST 127.0.0.1) is the operator's.
	code, au := b.do(t, "POST", authorizationsPath, b.admin, map[string]any{"type": "sftp_managed", "label": "uploads"})
	if code != 201 {
		t.Fatalf("create managed: %d %v", code, au)
	}
	id := au["id"].(string)
	if out, res := b.test(t, id, ""); out["ok"] != true || res["authenticated"] != true {
		t.Fatalf("test of the managed server: %v", out)
	}
	// Pointed elsewhere, it is a customer destination like any other:
	// refused when saved as an address, when dialled as a name.
	_, port, _ := net.SplitHostPort(b.sftpAddr)
	code, out := b.do(t, "PATCH", authorizationsPath+"/"+id, b.admin, map[string]any{"config": map[string]any{"host": "127.0.0.2"}})
	if e, _ := out["error"].(map[string]any); code != 422 || e["code"] != egress.Code || e["field"] != "config.host" {
		t.Fatalf("managed host moved to another loopback address: %d %v", code, out)
	}
	if _, err := lenientManaged(t, b).Update(context.Background(), "acme", id, authorizations.Input{Config: map[string]any{"host": "localhost", "port": atoi(t, port)}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := b.test(t, id, ""); out["ok"] != false || out["code"] != egress.Code {
		t.Fatalf("test of a managed authorization pointed elsewhere: %v", out)
	}
}

// lenientManaged is a store of b's authorizations that takes any
// sftp_managed config, as one written before a policy change.
func lenientManaged(t *testing.T, b *managedBundle) *authorizations.Store {
	t.Helper()
	anywhere := egress.New(netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
	typ := sftpd.ManagedAuthorizationType(b.app.rdb, b.app.ns, sftpd.ManagedOptions{Endpoint: b.app.cfg.ManagedEndpoint, Egress: anywhere})
	return authorizations.New(b.app.rdb, b.app.ns, b.app.box, authorizations.NewRegistry(typ))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

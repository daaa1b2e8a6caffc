package authorizations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"
)

// bindingStore is a store of every customer type, with custom and
// insecure Braze endpoints allowed and the default egress policy.
func bindingStore(t *testing.T) (*Store, *redis.Client) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	box, err := secrets.NewBox(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return New(rdb, ns, box, NewRegistry(SFTPType(nil), SFTPPGPType(nil), BrazeType(BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true}))), rdb
}

func pgpKey(t *testing.T) string {
	t.Helper()
	e, err := openpgp.NewEntity("import", "", "import@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	return buf.String()
}

// TestSFTPDestinationChangeClearsLoginSecrets: host, port, username and a
// changed or removed host_key each clear the stored password, key and
// passphrase unless the same request sends them again; other changes, a
// host's case, and a first pin keep them.
func TestSFTPDestinationChangeClearsLoginSecrets(t *testing.T) {
	t.Parallel()
	s, _ := bindingStore(t)
	ctx := context.Background()
	key, pub := sshKey(t, "")
	_, otherPub := sshKey(t, "")
	pinned := string(ssh.MarshalAuthorizedKey(pub))
	create := func(hostKey string) string {
		t.Helper()
		cfg := map[string]any{"host": "sftp.example.com", "port": 22.0, "username": "acme", "folder": "/in"}
		if hostKey != "" {
			cfg["host_key"] = hostKey
		}
		a, _, err := s.Create(ctx, "acme", Input{Type: "sftp", Label: str("x"), Config: cfg, Secrets: map[string]string{"password": "old-password", "private_key": key}})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	moves := map[string]map[string]any{
		"host":           {"host": "evil.example.net"},
		"port":           {"port": 2222.0},
		"username":       {"username": "root"},
		"host_key":       {"host_key": ssh.FingerprintSHA256(otherPub)},
		"host_key null":  {"host_key": nil},
		"host + new key": {"host": "evil.example.net", "host_key": ssh.FingerprintSHA256(otherPub)},
	}
	for name, cfg := range moves {
		id := create(pinned)
		// Without the secrets again: refused, naming what was cleared; the
		// stored authorization is untouched.
		_, err := s.Update(ctx, "acme", id, Input{Config: cfg})
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != "secrets.password" || !strings.Contains(ve.Message, "cleared the stored password, private_key") {
			t.Fatalf("%s changed without secrets: %v", name, err)
		}
		a, plain, err := s.Credentials(ctx, "acme", id)
		if err != nil || plain["password"] != "old-password" || a.Config["host"] != "sftp.example.com" || a.Config["host_key"] != pinned {
			t.Fatalf("%s: a refused update changed the authorization: %v %v", name, a.Config, err)
		}
		// With a new password: the old key is gone, the password is new.
		u, err := s.Update(ctx, "acme", id, Input{Config: cfg, Secrets: map[string]string{"password": "new-password"}})
		if err != nil || !slices.Equal(u.SecretsSet, []string{"password"}) {
			t.Fatalf("%s changed with a new password: %+v %v", name, u, err)
		}
		if _, plain, err = s.Credentials(ctx, "acme", id); err != nil || plain["password"] != "new-password" || plain["private_key"] != "" {
			t.Fatalf("%s: secrets after the move: %v", name, err)
		}
	}
	for name, cfg := range map[string]map[string]any{
		"folder":     {"folder": "/elsewhere"},
		"host case":  {"host": "SFTP.Example.COM"},
		"same port":  {"port": 22.0},
		"first pin":  nil, // below, on an unpinned authorization
		"same value": {"host": "sftp.example.com"},
	} {
		id := create(pinned)
		if name == "first pin" {
			id, cfg = create(""), map[string]any{"host_key": pinned}
		}
		u, err := s.Update(ctx, "acme", id, Input{Config: cfg})
		if err != nil || !slices.Equal(u.SecretsSet, []string{"password", "private_key"}) {
			t.Fatalf("%s: secrets cleared by a change that keeps the destination: %+v %v", name, u, err)
		}
		if _, plain, err := s.Credentials(ctx, "acme", id); err != nil || plain["password"] != "old-password" {
			t.Fatalf("%s: credentials after the change: %v", name, err)
		}
	}
}

// TestSFTPPGPMoveKeepsThePGPKey: the PGP key decrypts files here and is
// never sent, so a destination change clears the login secrets only.
func TestSFTPPGPMoveKeepsThePGPKey(t *testing.T) {
	t.Parallel()
	s, _ := bindingStore(t)
	ctx := context.Background()
	pk := pgpKey(t)
	a, _, err := s.Create(ctx, "acme", Input{Type: "sftp_pgp", Label: str("x"),
		Config:  map[string]any{"host": "sftp.example.com", "username": "acme"},
		Secrets: map[string]string{"password": "old-password", "passphrase": "unused", "pgp_private_key": pk}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Update(ctx, "acme", a.ID, Input{Config: map[string]any{"host": "other.example.com"}, Secrets: map[string]string{"password": "new-password"}})
	if err != nil || !slices.Equal(u.SecretsSet, []string{"password", "pgp_private_key"}) {
		t.Fatalf("secrets_set after the move: %+v %v", u, err)
	}
}

// TestBrazeEndpointChangeClearsTheAPIKey: another endpoint or instance
// does not inherit the key; the same instance written differently does.
func TestBrazeEndpointChangeClearsTheAPIKey(t *testing.T) {
	t.Parallel()
	s, _ := bindingStore(t)
	ctx := context.Background()
	for name, cfg := range map[string]map[string]any{
		"rest_endpoint": {"rest_endpoint": "https://braze.attacker.example"},
		"instance":      {"instance": "EU-01", "rest_endpoint": nil},
	} {
		a, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "https://rest.iad-01.braze.com"}, Secrets: map[string]string{"api_key": apiKey}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Update(ctx, "acme", a.ID, Input{Config: cfg})
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != "secrets.api_key" || !strings.Contains(ve.Message, "cleared the stored api_key") {
			t.Fatalf("%s changed without the key: %v", name, err)
		}
		if _, err := s.Update(ctx, "acme", a.ID, Input{Config: cfg, Secrets: map[string]string{"api_key": "new-key"}}); err != nil {
			t.Fatalf("%s changed with a new key: %v", name, err)
		}
		if _, plain, err := s.Credentials(ctx, "acme", a.ID); err != nil || plain["api_key"] != "new-key" {
			t.Fatalf("%s: key after the move: %v", name, err)
		}
	}
	a, _, _ := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-03"}, Secrets: map[string]string{"api_key": apiKey}})
	if _, err := s.Update(ctx, "acme", a.ID, Input{Config: map[string]any{"instance": "us-03", "batch_size": 50.0}}); err != nil {
		t.Fatalf("the same instance in lower case cleared the key: %v", err)
	}
}

// TestSecretsAreSealedForTheirDestination: a destination changed in Redis,
// behind the API's back, leaves the secrets unopenable; a sealed value
// copied to another authorization does not open there either.
func TestSecretsAreSealedForTheirDestination(t *testing.T) {
	t.Parallel()
	s, rdb := bindingStore(t)
	ctx := context.Background()
	a, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "https://rest.iad-01.braze.com"}, Secrets: map[string]string{"api_key": apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("y"), Config: map[string]any{"rest_endpoint": "https://braze.attacker.example"}, Secrets: map[string]string{"api_key": "attacker-key"}})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(id string, change func(m map[string]any)) {
		t.Helper()
		raw, err := rdb.HGet(ctx, s.key("acme"), id).Result()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		out, _ := json.Marshal(m)
		if err := rdb.HSet(ctx, s.key("acme"), id, out).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var sealedA string
	edit(a.ID, func(m map[string]any) {
		sealedA = m["sealed"].(map[string]any)["api_key"].(string)
		m["config"].(map[string]any)["rest_endpoint"] = "https://braze.attacker.example"
	})
	if _, _, err := s.Credentials(ctx, "acme", a.ID); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("a secret opened for another destination than its own: %v", err)
	}
	edit(b.ID, func(m map[string]any) { m["sealed"].(map[string]any)["api_key"] = sealedA })
	if _, _, err := s.Credentials(ctx, "acme", b.ID); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("a secret copied to another authorization opened: %v", err)
	}
	// Nor does clearing the binding flag open it with the old additional data.
	edit(a.ID, func(m map[string]any) {
		m["config"].(map[string]any)["rest_endpoint"] = "https://rest.iad-01.braze.com"
		delete(m, "destination_bound")
	})
	if _, _, err := s.Credentials(ctx, "acme", a.ID); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("a bound secret opened as an unbound one: %v", err)
	}
}

// TestSecretsSealedBeforeBindingStillOpen: records written before secrets
// were bound to their destination open, and Reseal or an update binds them.
func TestSecretsSealedBeforeBindingStillOpen(t *testing.T) {
	t.Parallel()
	s, rdb := bindingStore(t)
	ctx := context.Background()
	legacy := func(id string) {
		t.Helper()
		sealed, err := s.box.Seal(sealPurpose("acme", id, "api_key", false, "", ""), []byte(apiKey))
		if err != nil {
			t.Fatal(err)
		}
		rec := map[string]any{"id": id, "account": "acme", "type": "braze", "label": "old",
			"config": map[string]any{"instance": "US-01"}, "secrets_set": []string{"api_key"}, "sealed": map[string]string{"api_key": sealed},
			"created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
		b, _ := json.Marshal(rec)
		if err := rdb.HSet(ctx, s.key("acme"), id, b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	legacy("au_legacy1")
	legacy("au_legacy2")
	if _, plain, err := s.Credentials(ctx, "acme", "au_legacy1"); err != nil || plain["api_key"] != apiKey {
		t.Fatalf("a secret sealed before binding does not open: %v", err)
	}
	if _, err := s.Update(ctx, "acme", "au_legacy2", Input{Label: str("renamed")}); err != nil {
		t.Fatalf("updating an old record: %v", err)
	}
	n, err := s.Reseal(ctx, "acme")
	if err != nil || n != 1 {
		t.Fatalf("Reseal = %d, %v; want the one unbound record rewritten", n, err)
	}
	for _, id := range []string{"au_legacy1", "au_legacy2"} {
		raw, _ := rdb.HGet(ctx, s.key("acme"), id).Result()
		if !strings.Contains(raw, `"destination_bound":true`) {
			t.Fatalf("%s is still unbound: %s", id, raw)
		}
		if _, plain, err := s.Credentials(ctx, "acme", id); err != nil || plain["api_key"] != apiKey {
			t.Fatalf("%s after binding: %v", id, err)
		}
	}
	if n, err := s.Reseal(ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v", n, err)
	}
}

// TestLiteralInternalDestinationsAreRefused: an SFTP host or Braze
// endpoint written as an internal address is a *DestinationError naming
// the field, unless the egress allow list covers it.
func TestLiteralInternalDestinationsAreRefused(t *testing.T) {
	t.Parallel()
	s, _ := bindingStore(t)
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "::1", "0x7f000001", "2130706433", "localhost", "169.254.169.254", "10.0.0.5", "::ffff:192.168.1.1", "fe80::1"} {
		_, _, err := s.Create(ctx, "acme", Input{Type: "sftp", Label: str("x"), Config: map[string]any{"host": host, "port": 6379.0, "username": "u"}, Secrets: map[string]string{"password": "p"}})
		var de *DestinationError
		if !errors.As(err, &de) || de.Field != "config.host" || !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("sftp host %s: %v", host, err)
		}
	}
	for _, ep := range []string{"https://127.0.0.1:8443", "https://[::1]", "https://0x7f000001", "https://localhost:9200", "https://169.254.169.254/", "http://10.1.2.3", "https://[::ffff:127.0.0.1]"} {
		_, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": ep}, Secrets: map[string]string{"api_key": "k"}})
		var de *DestinationError
		if !errors.As(err, &de) || de.Field != "config.rest_endpoint" || !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("rest_endpoint %s: %v", ep, err)
		}
	}
	// A PATCH to an internal address is refused the same way.
	a, _, err := s.Create(ctx, "acme", Input{Type: "sftp", Label: str("x"), Config: map[string]any{"host": "sftp.example.com", "username": "u"}, Secrets: map[string]string{"password": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	var de *DestinationError
	if _, err := s.Update(ctx, "acme", a.ID, Input{Config: map[string]any{"host": "127.0.0.1"}, Secrets: map[string]string{"password": "p"}}); !errors.As(err, &de) {
		t.Fatalf("PATCH to loopback: %v", err)
	}
	// The allow list lets a range through.
	rdb, ns := redistest.Client(t)
	box, _ := secrets.NewBox(bytes.Repeat([]byte{5}, 32))
	allow := egress.New(netip.MustParsePrefix("127.0.0.0/8"))
	dev := New(rdb, ns, box, NewRegistry(SFTPType(allow), BrazeType(BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true, Egress: allow})))
	if _, _, err := dev.Create(ctx, "acme", Input{Type: "sftp", Label: str("x"), Config: map[string]any{"host": "127.0.0.1", "username": "u"}, Secrets: map[string]string{"password": "p"}}); err != nil {
		t.Errorf("allowed loopback sftp host: %v", err)
	}
	if _, _, err := dev.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "http://127.0.0.1:9000"}, Secrets: map[string]string{"api_key": "k"}}); err != nil {
		t.Errorf("allowed loopback endpoint: %v", err)
	}
}

// TestBrazeEndpointRules: https only, no credentials, query or fragment,
// and Braze's own domains unless the operator allows others.
func TestBrazeEndpointRules(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	box, _ := secrets.NewBox(bytes.Repeat([]byte{5}, 32))
	strict := New(rdb, ns, box, NewRegistry(BrazeType(BrazeOptions{})))
	ctx := context.Background()
	for _, ep := range []string{
		"http://rest.iad-01.braze.com", "ftp://rest.iad-01.braze.com", "rest.iad-01.braze.com",
		"https://user:hunter2@rest.iad-01.braze.com", "https://rest.iad-01.braze.com?x=1", "https://rest.iad-01.braze.com/#top",
		"https://braze.example.com", "https://rest.iad-01.braze.com.example.net", "https://evilbraze.com",
	} {
		_, _, err := strict.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": ep}, Secrets: map[string]string{"api_key": "k"}})
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != "config.rest_endpoint" || strings.Contains(ve.Message, "hunter2") {
			t.Errorf("%s: %v", ep, err)
		}
	}
	for _, ep := range []string{"https://rest.iad-01.braze.com", "https://rest.fra-02.braze.eu/", "https://REST.US-10.BRAZE.COM"} {
		if _, _, err := strict.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": ep}, Secrets: map[string]string{"api_key": "k"}}); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
	custom := New(rdb, ns, box, NewRegistry(BrazeType(BrazeOptions{AllowCustomEndpoints: true})))
	if _, _, err := custom.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "https://braze-proxy.example.com"}, Secrets: map[string]string{"api_key": "k"}}); err != nil {
		t.Errorf("custom endpoint with AllowCustomEndpoints: %v", err)
	}
	if _, _, err := custom.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "http://braze-proxy.example.com"}, Secrets: map[string]string{"api_key": "k"}}); err == nil {
		t.Error("plain http accepted without AllowInsecure")
	}
}

package authorizations

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

const apiKey = "braze-rest-key-3f9c1d2e-PLAINTEXT"

func setup(t *testing.T, keys ...[]byte) (*Store, *redis.Client, string) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	if len(keys) == 0 {
		keys = [][]byte{bytes.Repeat([]byte{7}, 32)}
	}
	box, err := secrets.NewBox(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return New(rdb, ns, box, NewRegistry(BrazeType(BrazeOptions{}))), rdb, string(ns)
}

func str(s string) *string { return &s }

func TestBrazeValidation(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	cases := []struct {
		in    Input
		field string
	}{
		{Input{Type: "nope", Label: str("x")}, "type"},
		{Input{Type: "braze", Secrets: map[string]string{"api_key": "k"}, Config: map[string]any{"instance": "US-01"}}, "label"},
		{Input{Type: "braze", Label: str("x"), Secrets: map[string]string{"api_key": "k"}}, "config.instance"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-09"}, Secrets: map[string]string{"api_key": "k"}}, "config.instance"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"rest_endpoint": "http://sim:1"}, Secrets: map[string]string{"api_key": "k"}}, "config.rest_endpoint"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-01"}}, "secrets.api_key"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-01", "batch_size": 76.0}, Secrets: map[string]string{"api_key": "k"}}, "config.batch_size"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-01", "colour": "red"}, Secrets: map[string]string{"api_key": "k"}}, "config.colour"},
		{Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "US-01"}, Secrets: map[string]string{"api_key": "k", "password": "p"}}, "secrets.password"},
	}
	for _, c := range cases {
		_, _, err := s.Create(ctx, "acme", c.in)
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%+v: want error on %s, got %v", c.in, c.field, err)
		}
	}
	_, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "us-09"}, Secrets: map[string]string{"api_key": "k"}})
	if err == nil || !strings.Contains(err.Error(), "US-10") {
		t.Fatalf("unknown instance error should list valid instances: %v", err)
	}
	a, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("x"), Config: map[string]any{"instance": "eu-01"}, Secrets: map[string]string{"api_key": "k"}})
	if err != nil || BrazeEndpoint(a) != "https://rest.fra-01.braze.eu" {
		t.Fatalf("lower-case instance: %v %v", a, err)
	}
}

func TestSecretsSealedAndNeverShown(t *testing.T) {
	t.Parallel()
	s, rdb, ns := setup(t)
	ctx := context.Background()
	a, _, err := s.Create(ctx, "acme", Input{Type: "braze", Label: str("prod"), Config: map[string]any{"instance": "US-03"}, Secrets: map[string]string{"api_key": apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.SecretsSet) != 1 || a.SecretsSet[0] != "api_key" {
		t.Fatalf("secrets_set: %v", a.SecretsSet)
	}
	keys, _ := rdb.Keys(ctx, ns+":*").Result()
	for _, k := range keys {
		dump, _ := rdb.HGetAll(ctx, k).Result()
		for _, v := range dump {
			if strings.Contains(v, apiKey) || strings.Contains(v, "PLAINTEXT") {
				t.Fatalf("plaintext key stored in %s", k)
			}
		}
	}
	_, plain, err := s.Credentials(ctx, "acme", a.ID)
	if err != nil || plain["api_key"] != apiKey {
		t.Fatalf("credentials: %v", err)
	}
	if _, err := s.Get(ctx, "other", a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other account sees authorization: %v", err)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	a, _, _ := s.Create(ctx, "acme", Input{Type: "braze", Label: str("prod"), Config: map[string]any{"instance": "US-03"}, Secrets: map[string]string{"api_key": "k1"}})
	u, err := s.Update(ctx, "acme", a.ID, Input{Label: str("renamed"), Config: map[string]any{"batch_size": 50.0}})
	if err != nil || u.Label != "renamed" || u.Config["batch_size"] != 50.0 || u.Config["instance"] != "US-03" {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := s.Update(ctx, "acme", a.ID, Input{Secrets: map[string]string{"api_key": ""}}); err == nil {
		t.Fatal("removing the required key accepted")
	}
	s.Update(ctx, "acme", a.ID, Input{Secrets: map[string]string{"api_key": "k2"}})
	_, plain, _ := s.Credentials(ctx, "acme", a.ID)
	if plain["api_key"] != "k2" {
		t.Fatal("secret not replaced")
	}
	if err := s.Delete(ctx, "acme", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme", a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("deleted authorization still there")
	}
}

func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s, rdb, ns := setup(t, oldKey)
	ctx := context.Background()
	a, _, _ := s.Create(ctx, "acme", Input{Type: "braze", Label: str("p"), Config: map[string]any{"instance": "US-01"}, Secrets: map[string]string{"api_key": apiKey}})
	box, _ := secrets.NewBox(newKey, oldKey)
	rotated := &Store{rdb: rdb, ns: s.ns, box: box, types: s.types, now: s.now}
	if _, plain, err := rotated.Credentials(ctx, "acme", a.ID); err != nil || plain["api_key"] != apiKey {
		t.Fatalf("old key no longer opens: %v", err)
	}
	n, err := rotated.Reseal(ctx, "acme")
	if err != nil || n != 1 {
		t.Fatalf("reseal: %d %v", n, err)
	}
	onlyNew, _ := secrets.NewBox(newKey)
	fresh := &Store{rdb: rdb, ns: s.ns, box: onlyNew, types: s.types, now: s.now}
	if _, plain, err := fresh.Credentials(ctx, "acme", a.ID); err != nil || plain["api_key"] != apiKey {
		t.Fatalf("after reseal the new key alone must open: %v", err)
	}
	_ = ns
}

// TestProvisioningIsUndoneWhenTheAuthorizationIsNotStored: what Provision
// made (the managed SFTP server's user) does not outlive an authorization
// that failed validation or could not be stored.
func TestProvisioningIsUndoneWhenTheAuthorizationIsNotStored(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]bool{}
	typ := Type{
		Name:   "made",
		Config: []string{"ok", "user"},
		Validate: func(a *Authorization, _ map[string]string) error {
			if a.Config["ok"] != true {
				return &fault.ValidationError{Field: "config.ok", Message: "must be true"}
			}
			return nil
		},
		Provision: func(_ context.Context, a *Authorization, _ map[string]string) (map[string]any, error) {
			a.Config["user"] = "u-" + a.ID
			made[a.Config["user"].(string)] = true
			return nil, nil
		},
		Deprovision: func(_ context.Context, a *Authorization) error {
			delete(made, a.Config["user"].(string))
			return nil
		},
	}
	s := New(rdb, ns, box, NewRegistry(typ))
	ctx := context.Background()
	if _, _, err := s.Create(ctx, "acme", Input{Type: "made", Label: str("x")}); err == nil {
		t.Fatal("an invalid authorization was stored")
	}
	if len(made) != 0 {
		t.Fatalf("provisioned %v left behind by a failed validation", made)
	}
	a, _, err := s.Create(ctx, "acme", Input{Type: "made", Label: str("x"), Config: map[string]any{"ok": true}})
	if err != nil || !made["u-"+a.ID] {
		t.Fatalf("Create = %v, %v; provisioned %v", a, err, made)
	}
	// Redis refusing the write: the user goes too.
	broken := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = broken.Close() })
	s = New(broken, ns, box, NewRegistry(typ))
	if _, _, err := s.Create(ctx, "acme", Input{Type: "made", Label: str("y"), Config: map[string]any{"ok": true}}); err == nil {
		t.Fatal("Create without Redis succeeded")
	}
	if len(made) != 1 {
		t.Fatalf("provisioned %v, want only the stored authorization's user", made)
	}
}

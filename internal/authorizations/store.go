// Package authorizations stores credentials for outside systems (Braze
// workspaces, SFTP servers). Config is plain; secrets are sealed with the
// master key and never leave this package except to the workers that use
// them (Credentials).
package authorizations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/redisjson"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/textcheck"
	"github.com/redis/go-redis/v9"
)

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("authorization not found")
	ErrUnknownType = errors.New("unknown authorization type")
)

// Authorization is what the API shows: config, and which secrets are set.
type Authorization struct {
	ID          string         `json:"id"`
	Account     string         `json:"account"`
	Type        string         `json:"type"`
	Label       string         `json:"label"`
	Description string         `json:"description,omitempty"`
	Config      map[string]any `json:"config"`
	// SecretsSet names the secrets that are set; their values are never shown.
	SecretsSet []string  `json:"secrets_set"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

type record struct {
	Authorization
	Sealed map[string]string `json:"sealed"`
	// Bound says the secrets are sealed with the destination in their
	// additional data; records written before that are resealed with it by
	// their next update or by Reseal.
	Bound bool `json:"destination_bound,omitempty"`
}

// Store keeps authorizations in Redis, one hash per account.
type Store struct {
	rdb   redis.UniversalClient
	ns    keyspace.Namespace
	box   *secrets.Box
	types *Registry
	now   func() time.Time
}

// New returns a Store.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, box *secrets.Box, types *Registry) *Store {
	return &Store{rdb: rdb, ns: ns, box: box, types: types, now: time.Now}
}

// Types returns the registry.
func (s *Store) Types() *Registry { return s.types }

func (s *Store) key(account string) string { return s.ns.Account(account, "authorizations") }

// Input is a create or update request. Nil fields are left as they are on
// update; a secret set to "" is removed.
type Input struct {
	Type        string
	Label       *string
	Description *string
	Config      map[string]any
	Secrets     map[string]string
}

// Create validates, seals and stores a new authorization. shown holds values
// a type's Provision returned to be shown once (e.g. a generated password).
func (s *Store) Create(ctx context.Context, account string, in Input) (a *Authorization, shown map[string]any, err error) {
	t, ok := s.types.Lookup(in.Type)
	if !ok {
		return nil, nil, &fault.ValidationError{Field: "type", Message: fmt.Sprintf("%q is not one of %v", in.Type, s.types.Names())}
	}
	now := s.now().UTC().Truncate(time.Second)
	idb := make([]byte, 6)
	_, _ = rand.Read(idb)
	a = &Authorization{ID: "au_" + hex.EncodeToString(idb), Account: account, Type: in.Type, Config: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	if in.Label != nil {
		a.Label = *in.Label
	}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if a.Label == "" {
		return nil, nil, &fault.ValidationError{Field: "label", Message: "is required"}
	}
	if err := checkText(a); err != nil {
		return nil, nil, err
	}
	maps.Copy(a.Config, in.Config)
	plain := map[string]string{}
	for k, v := range in.Secrets {
		if v != "" {
			plain[k] = v
		}
	}
	if err := t.checkKeys(a, plain); err != nil {
		return nil, nil, err
	}
	if t.Provision != nil {
		if shown, err = t.Provision(ctx, a, plain); err != nil {
			return nil, nil, err
		}
	}
	if err := s.validateAndSave(ctx, t, a, plain); err != nil {
		// Undo what Provision made (e.g. a managed SFTP user), or it would
		// outlive an authorization that was never stored.
		if t.Provision != nil && t.Deprovision != nil {
			if derr := t.Deprovision(context.WithoutCancel(ctx), a); derr != nil {
				return nil, nil, fmt.Errorf("%w (and undoing its provisioning: %v)", err, derr)
			}
		}
		return nil, nil, err
	}
	return a, shown, nil
}

// checkText checks the label and the description.
func checkText(a *Authorization) error {
	if msg := textcheck.Label(a.Label); msg != "" {
		return &fault.ValidationError{Field: "label", Message: msg}
	}
	if msg := textcheck.Description(a.Description); msg != "" {
		return &fault.ValidationError{Field: "description", Message: msg}
	}
	return nil
}

func (s *Store) validateAndSave(ctx context.Context, t Type, a *Authorization, plain map[string]string) error {
	if t.Validate != nil {
		if err := t.Validate(a, plain); err != nil {
			return err
		}
	}
	return s.save(ctx, a, plain)
}

func (s *Store) save(ctx context.Context, a *Authorization, plain map[string]string) error {
	rec := record{Authorization: *a, Sealed: map[string]string{}, Bound: true}
	t, _ := s.types.Lookup(a.Type)
	dest, pin := t.destination(a)
	for k, v := range plain {
		sealed, err := s.box.Seal(sealPurpose(a.Account, a.ID, k, true, dest, pin), []byte(v))
		if err != nil {
			return fmt.Errorf("sealing secret %s: %w", k, err)
		}
		rec.Sealed[k] = sealed
	}
	rec.SecretsSet = slices.Sorted(maps.Keys(plain))
	a.SecretsSet = rec.SecretsSet
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding authorization: %w", err)
	}
	if err := s.rdb.HSet(ctx, s.key(a.Account), a.ID, b).Err(); err != nil {
		return fmt.Errorf("storing authorization %s: %w", a.ID, err)
	}
	return nil
}

func (s *Store) load(ctx context.Context, account, id string) (*record, error) {
	var rec record
	found, err := redisjson.HGetJSON(ctx, s.rdb, s.key(account), id, &rec)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	if rec.Config == nil {
		rec.Config = map[string]any{}
	}
	return &rec, nil
}

// open opens the secrets of rec, sealed for its current destination: a
// secret whose record now names another destination than the one it was
// sealed for does not open (secrets.ErrCorrupt).
func (s *Store) open(rec *record) (map[string]string, error) {
	plain := make(map[string]string, len(rec.Sealed))
	t, _ := s.types.Lookup(rec.Type)
	dest, pin := t.destination(&rec.Authorization)
	for k, v := range rec.Sealed {
		pt, err := s.box.Open(sealPurpose(rec.Account, rec.ID, k, rec.Bound, dest, pin), v)
		if err != nil {
			return nil, fmt.Errorf("opening secret %s of authorization %s: %w", k, rec.ID, err)
		}
		plain[k] = string(pt)
	}
	return plain, nil
}

// Get returns one authorization without secrets.
func (s *Store) Get(ctx context.Context, account, id string) (*Authorization, error) {
	rec, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	return &rec.Authorization, nil
}

// Credentials returns an authorization with its opened secrets, for the
// workers that talk to the outside system. Never return them to a client.
func (s *Store) Credentials(ctx context.Context, account, id string) (*Authorization, map[string]string, error) {
	rec, err := s.load(ctx, account, id)
	if err != nil {
		return nil, nil, err
	}
	plain, err := s.open(rec)
	if err != nil {
		return nil, nil, err
	}
	return &rec.Authorization, plain, nil
}

// List returns an account's authorizations, oldest first.
func (s *Store) List(ctx context.Context, account string) ([]Authorization, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(account)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing authorizations: %w", err)
	}
	out := make([]Authorization, 0, len(m))
	for _, v := range m {
		var rec record
		if err := json.Unmarshal([]byte(v), &rec); err == nil {
			out = append(out, rec.Authorization)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].ID < out[j].ID
		}
		return out[i].CreatedAt.Before(out[j].CreatedAt)
	})
	return out, nil
}

// Update merges in into the authorization and validates the result. Config
// keys given replace the stored ones; a config key set to null is removed.
// When the type's destination or pin changes, the bound secrets that in
// does not supply again are removed (a type that requires them then
// refuses the update, naming them).
func (s *Store) Update(ctx context.Context, account, id string, in Input) (*Authorization, error) {
	rec, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != rec.Type {
		return nil, &fault.ValidationError{Field: "type", Message: "cannot be changed; create a new authorization"}
	}
	t, ok := s.types.Lookup(rec.Type)
	if !ok {
		return nil, ErrUnknownType
	}
	plain, err := s.open(rec)
	if err != nil {
		return nil, err
	}
	a := rec.Authorization
	a.Config = maps.Clone(rec.Config)
	if in.Label != nil {
		if *in.Label == "" {
			return nil, &fault.ValidationError{Field: "label", Message: "cannot be empty"}
		}
		a.Label = *in.Label
	}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if err := checkText(&a); err != nil {
		return nil, err
	}
	if err := t.checkImmutable(rec.Config, in.Config); err != nil {
		return nil, err
	}
	for k, v := range in.Config {
		if v == nil {
			delete(a.Config, k)
		} else {
			a.Config[k] = v
		}
	}
	for k, v := range in.Secrets {
		if v == "" {
			delete(plain, k)
		} else {
			plain[k] = v
		}
	}
	// A secret never follows a changed destination.
	var cleared []string
	if t.moved(&rec.Authorization, &a) {
		cleared = t.unbind(plain, in.Secrets)
	}
	if err := t.checkKeys(&a, plain); err != nil {
		return nil, err
	}
	if t.Validate != nil {
		if err := t.Validate(&a, plain); err != nil {
			return nil, explainCleared(err, cleared, t.changedKeys(rec.Config, a.Config))
		}
	}
	a.UpdatedAt = s.now().UTC().Truncate(time.Second)
	if err := s.save(ctx, &a, plain); err != nil {
		return nil, err
	}
	return &a, nil
}

// Delete removes an authorization (and deprovisions it where its type says).
func (s *Store) Delete(ctx context.Context, account, id string) error {
	rec, err := s.load(ctx, account, id)
	if err != nil {
		return err
	}
	if t, ok := s.types.Lookup(rec.Type); ok && t.Deprovision != nil {
		if err := t.Deprovision(ctx, &rec.Authorization); err != nil {
			return fmt.Errorf("deprovisioning authorization %s: %w", id, err)
		}
	}
	if err := s.rdb.HDel(ctx, s.key(account), id).Err(); err != nil {
		return fmt.Errorf("deleting authorization %s: %w", id, err)
	}
	return nil
}

// Reseal re-encrypts every secret of an account that was sealed with an old
// master key, or before secrets were bound to their destination. It returns
// how many authorizations were rewritten.
func (s *Store) Reseal(ctx context.Context, account string) (int, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(account)).Result()
	if err != nil {
		return 0, fmt.Errorf("listing authorizations: %w", err)
	}
	n := 0
	for _, v := range m {
		var rec record
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			continue
		}
		stale := !rec.Bound && len(rec.Sealed) > 0
		for _, sv := range rec.Sealed {
			stale = stale || s.box.NeedsResealing(sv)
		}
		if !stale {
			continue
		}
		plain, err := s.open(&rec)
		if err != nil {
			return n, err
		}
		a := rec.Authorization
		if err := s.save(ctx, &a, plain); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// AuthorizationType returns the type of an account's authorization (it
// satisfies jobs.Authorizations).
func (s *Store) AuthorizationType(ctx context.Context, account, id string) (string, error) {
	rec, err := s.load(ctx, account, id)
	if err != nil {
		return "", err
	}
	return rec.Type, nil
}

// Package accounts stores accounts and their API tokens.
//
// A token's secret is shown once, at creation; Redis keeps only its SHA-256.
// Authentication is one GET of the global token index key, so it costs one
// round trip on every request and works on Redis Cluster.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/redisjson"
	"github.com/brazesync/brazesync/internal/textcheck"
	"github.com/redis/go-redis/v9"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidID reports whether s can be an account id: lower-case letters, digits,
// '-' and '_', at most 63 characters, so it is safe inside a Redis hash tag.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Account is a tenant of brazesync.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps accounts and tokens in Redis.
type Store struct {
	rdb redis.UniversalClient
	ns  keyspace.Namespace
	now func() time.Time
}

// New returns a Store. now may be nil (time.Now).
func New(rdb redis.UniversalClient, ns keyspace.Namespace, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{rdb: rdb, ns: ns, now: now}
}

// Create creates an account; ErrExists if the id is taken.
func (s *Store) Create(ctx context.Context, id, name string) (*Account, error) {
	if id == "" {
		return nil, &fault.ValidationError{Field: "id", Message: "is required: 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"}
	}
	if !ValidID(id) {
		return nil, &fault.ValidationError{Field: "id", Message: "must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"}
	}
	if name == "" {
		name = id
	}
	if msg := textcheck.Label(name); msg != "" {
		return nil, &fault.ValidationError{Field: "name", Message: msg}
	}
	a := &Account{ID: id, Name: name, CreatedAt: s.now().UTC().Truncate(time.Second)}
	b, _ := json.Marshal(a)
	ok, err := s.rdb.HSetNX(ctx, accountsKey(s.ns), id, b).Result()
	if err != nil {
		return nil, fmt.Errorf("creating account %q: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("account %q %w", id, ErrExists)
	}
	return a, nil
}

// Get returns one account or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Account, error) {
	var a Account
	found, err := redisjson.HGetJSON(ctx, s.rdb, accountsKey(s.ns), id, &a)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return &a, nil
}

// Exists reports whether the account exists.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.HExists(ctx, accountsKey(s.ns), id).Result()
	if err != nil {
		return false, fmt.Errorf("reading account %q: %w", id, err)
	}
	return ok, nil
}

// List returns every account sorted by id.
func (s *Store) List(ctx context.Context) ([]Account, error) {
	m, err := s.rdb.HGetAll(ctx, accountsKey(s.ns)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out := make([]Account, 0, len(m))
	for _, v := range m {
		var a Account
		if err := json.Unmarshal([]byte(v), &a); err == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

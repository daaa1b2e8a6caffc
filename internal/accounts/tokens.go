package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/textcheck"
	"github.com/redis/go-redis/v9"
)

// Scopes a token can carry.
const (
	ScopeAdmin       = "admin"
	ScopeDataManager = "data_manager"
	ScopeRead        = "read"
)

// ValidScopes lists every scope.
var ValidScopes = []string{ScopeAdmin, ScopeDataManager, ScopeRead}

// ErrInvalidToken means no such token, revoked, or expired.
var ErrInvalidToken = errors.New("invalid, revoked or expired token")

// Token is an account's API token as listed: never its secret.
type Token struct {
	ID          string     `json:"id"`
	Account     string     `json:"account"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Scopes      []string   `json:"scopes"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// SHA is the hex SHA-256 of the secret; never sent to clients.
	SHA string `json:"-"`
}

type storedToken struct {
	Token
	SHA string `json:"sha"`
}

// NewToken is what CreateToken takes.
type NewToken struct {
	Name        string
	Description string
	Scopes      []string
	ExpiresAt   *time.Time
}

// Principal is who a request acts as.
type Principal struct {
	// Operator is the global operator token: every account, every scope.
	Operator bool
	Account  string
	TokenID  string
	Scopes   []string
}

// Has reports whether p may act on account with scope. admin implies every
// scope; data_manager implies read.
func (p Principal) Has(account, scope string) bool {
	if !p.Operator && p.Account != account {
		return false
	}
	return p.HasScope(scope)
}

// HasScope reports whether p's scopes cover scope, whatever the account.
func (p Principal) HasScope(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope || s == ScopeAdmin || (s == ScopeDataManager && scope == ScopeRead) {
			return true
		}
	}
	return false
}

func newSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random token: %w", err)
	}
	return "bst_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken returns the hex SHA-256 of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken creates a token and returns it with its secret, which is not
// stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, account string, nt NewToken) (*Token, string, error) {
	if nt.Name == "" {
		return nil, "", &fault.ValidationError{Field: "name", Message: "is required"}
	}
	if msg := textcheck.Label(nt.Name); msg != "" {
		return nil, "", &fault.ValidationError{Field: "name", Message: msg}
	}
	if msg := textcheck.Description(nt.Description); msg != "" {
		return nil, "", &fault.ValidationError{Field: "description", Message: msg}
	}
	if len(nt.Scopes) == 0 {
		return nil, "", &fault.ValidationError{Field: "scopes", Message: "needs at least one of admin, data_manager, read"}
	}
	for _, sc := range nt.Scopes {
		if !slices.Contains(ValidScopes, sc) {
			return nil, "", &fault.ValidationError{Field: "scopes", Message: fmt.Sprintf("%q is not one of admin, data_manager, read", sc)}
		}
	}
	now := s.now().UTC()
	if nt.ExpiresAt != nil && !nt.ExpiresAt.After(now) {
		return nil, "", &fault.ValidationError{Field: "expires_at", Message: "must be in the future"}
	}
	if ok, err := s.Exists(ctx, account); err != nil {
		return nil, "", err
	} else if !ok {
		return nil, "", ErrNotFound
	}
	secret, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	idb := make([]byte, 6)
	_, _ = rand.Read(idb)
	t := storedToken{Token: Token{
		ID: "tok_" + hex.EncodeToString(idb), Account: account, Name: nt.Name, Description: nt.Description,
		Scopes: slices.Compact(slices.Sorted(slices.Values(nt.Scopes))), ExpiresAt: nt.ExpiresAt, CreatedAt: now.Truncate(time.Second),
	}, SHA: HashToken(secret)}
	b, _ := json.Marshal(t)
	// The list is the account's, the index key is global (another slot on
	// Redis Cluster): two commands, the list first, so that a token that
	// authenticates is always listed and can be revoked.
	if err := s.rdb.HSet(ctx, s.ns.Account(account, "tokens"), t.ID, b).Err(); err != nil {
		return nil, "", fmt.Errorf("storing token: %w", err)
	}
	if err := s.rdb.Set(ctx, tokenKey(s.ns, t.SHA), b, ttl(nt.ExpiresAt, now)).Err(); err != nil {
		return nil, "", fmt.Errorf("storing token: %w", err)
	}
	tok := t.Token
	return &tok, secret, nil
}

// ttl keeps an expired token's index entry a day past expiry, then drops it.
func ttl(exp *time.Time, now time.Time) time.Duration {
	if exp == nil {
		return 0
	}
	return exp.Sub(now) + 24*time.Hour
}

// ListTokens lists an account's tokens, revoked ones included, newest last.
func (s *Store) ListTokens(ctx context.Context, account string) ([]Token, error) {
	m, err := s.rdb.HGetAll(ctx, s.ns.Account(account, "tokens")).Result()
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	out := make([]Token, 0, len(m))
	for _, v := range m {
		var t storedToken
		if err := json.Unmarshal([]byte(v), &t); err == nil {
			out = append(out, t.Token)
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

// RevokeToken revokes a token at once; ErrNotFound if it is not the account's.
func (s *Store) RevokeToken(ctx context.Context, account, id string) (*Token, error) {
	key := s.ns.Account(account, "tokens")
	v, err := s.rdb.HGet(ctx, key, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading token: %w", err)
	}
	var t storedToken
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("decoding token: %w", err)
	}
	if t.RevokedAt == nil {
		now := s.now().UTC().Truncate(time.Second)
		t.RevokedAt = &now
	}
	b, _ := json.Marshal(t)
	// The index key is global, the list is the account's: two commands, index first.
	if err := s.rdb.Del(ctx, tokenKey(s.ns, t.SHA)).Err(); err != nil {
		return nil, fmt.Errorf("revoking token: %w", err)
	}
	if err := s.rdb.HSet(ctx, key, id, b).Err(); err != nil {
		return nil, fmt.Errorf("revoking token: %w", err)
	}
	tok := t.Token
	return &tok, nil
}

// Authenticate returns the principal of a token secret. operatorToken is the
// configured global operator token ("" for none); monitorToken, a global
// token with the read scope only ("" for none).
func (s *Store) Authenticate(ctx context.Context, secret, operatorToken string, monitorToken ...string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrInvalidToken
	}
	if operatorToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(operatorToken)) == 1 {
		return Principal{Operator: true, Scopes: []string{ScopeAdmin}}, nil
	}
	for _, m := range monitorToken {
		if m != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(m)) == 1 {
			return Principal{Operator: true, Scopes: []string{ScopeRead}}, nil
		}
	}
	b, err := s.rdb.Get(ctx, tokenKey(s.ns, HashToken(secret))).Bytes()
	if errors.Is(err, redis.Nil) {
		return Principal{}, ErrInvalidToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("reading token: %w", err)
	}
	var t storedToken
	if err := json.Unmarshal(b, &t); err != nil {
		return Principal{}, fmt.Errorf("decoding token: %w", err)
	}
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt)) {
		return Principal{}, ErrInvalidToken
	}
	return Principal{Account: t.Account, TokenID: t.ID, Scopes: t.Scopes}, nil
}

package accounts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T) (*Store, *clock) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return New(rdb, ns, c.now), c
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, "Bad Id", ""); err == nil {
		t.Fatal("invalid id accepted")
	}
	a, err := s.Create(ctx, "acme", "Acme")
	if err != nil || a.Name != "Acme" {
		t.Fatal(a, err)
	}
	if _, err := s.Create(ctx, "acme", "again"); !errors.Is(err, ErrExists) || err.Error() != `account "acme" already exists` {
		t.Fatalf("duplicate: %v, want ErrExists naming the account", err)
	}
	var ve *fault.ValidationError
	if _, err := s.Create(ctx, "", "no id"); !errors.As(err, &ve) || ve.Field != "id" || !strings.HasPrefix(ve.Message, "is required") {
		t.Fatalf("no id: %v, want id is required", err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	s.Create(ctx, "beta", "")
	list, _ := s.List(ctx)
	if len(list) != 2 || list[0].ID != "acme" || list[1].ID != "beta" {
		t.Fatalf("list: %+v", list)
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	tokenLifecycle(t, s, c)
}

// TestTokenLifecycleOnRedisCluster runs the same on a three-node Redis
// Cluster, where a token's index entry (a global key) and its account's
// list live in different slots: creating a token was one transaction over
// both, refused with CROSSSLOT.
func TestTokenLifecycleOnRedisCluster(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	tokenLifecycle(t, New(redistest.Cluster(t, 3), keyspace.Namespace("t"+redistest.RandomID()), c.now), c)
}

func tokenLifecycle(t *testing.T, s *Store, c *clock) {
	ctx := context.Background()
	s.Create(ctx, "acme", "")
	exp := c.now().Add(time.Hour)
	tok, secret, err := s.CreateToken(ctx, "acme", NewToken{Name: "ci", Scopes: []string{"read"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, secret, "")
	if err != nil || p.Account != "acme" || p.TokenID != tok.ID {
		t.Fatalf("auth: %+v %v", p, err)
	}
	if !p.Has("acme", ScopeRead) || p.Has("acme", ScopeDataManager) || p.Has("other", ScopeRead) {
		t.Fatalf("scope checks wrong: %+v", p)
	}
	c.add(2 * time.Hour)
	if _, err := s.Authenticate(ctx, secret, ""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
	_, secret2, _ := s.CreateToken(ctx, "acme", NewToken{Name: "w", Scopes: []string{"data_manager"}})
	if _, err := s.RevokeToken(ctx, "acme", "tok_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}
	list, _ := s.ListTokens(ctx, "acme")
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	if _, err := s.RevokeToken(ctx, "acme", list[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret2, ""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token accepted: %v", err)
	}
}

func TestTokenValidation(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()
	s.Create(ctx, "acme", "")
	past := c.now().Add(-time.Minute)
	for _, nt := range []NewToken{{Scopes: []string{"read"}}, {Name: "x"}, {Name: "x", Scopes: []string{"root"}}, {Name: "x", Scopes: []string{"read"}, ExpiresAt: &past}} {
		var ve *fault.ValidationError
		if _, _, err := s.CreateToken(ctx, "acme", nt); !errors.As(err, &ve) {
			t.Errorf("%+v: want validation error, got %v", nt, err)
		}
	}
	if _, _, err := s.CreateToken(ctx, "ghost", NewToken{Name: "x", Scopes: []string{"read"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for missing account: %v", err)
	}
}

func TestOperatorToken(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	p, err := s.Authenticate(context.Background(), "operator-token-123456", "operator-token-123456")
	if err != nil || !p.Operator || !p.Has("any", ScopeAdmin) {
		t.Fatalf("operator: %+v %v", p, err)
	}
	if _, err := s.Authenticate(context.Background(), "", "operator-token-123456"); err == nil {
		t.Fatal("empty token accepted")
	}
}

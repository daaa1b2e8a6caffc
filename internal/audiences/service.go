package audiences

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// Profiles is what the audiences package needs from the profiles store
// (*profiles.Store implements it).
type Profiles interface {
	// Resolve returns the id of the profile holding any of the identities,
	// or an error wrapping profiles.ErrNotFound; it never creates one.
	Resolve(ctx context.Context, account string, identities map[string]string) (string, error)
	// Upsert writes records through the stream's mapping, creating profiles
	// for unknown identities (used for list members without a profile).
	Upsert(ctx context.Context, account, stream string, records []profiles.Record) (profiles.Result, error)
	// Scan returns up to count profiles after cursor ("" to start) and the
	// next cursor, "" after the last page.
	Scan(ctx context.Context, account, cursor string, count int) ([]profiles.Profile, string, error)
}

// ChunkSizeDefault is the number of profiles a re-evaluation chunk reads.
const ChunkSizeDefault = 1000

// Options configure a Service. The zero value is valid.
type Options struct {
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Logger, default slog.Default().
	Logger *slog.Logger
	// ChunkSize of re-evaluation scans, default ChunkSizeDefault.
	ChunkSize int
}

// Service manages the audiences of every account.
type Service struct {
	rdb      redis.UniversalClient
	keys     keys
	profiles Profiles
	now      func() time.Time
	log      *slog.Logger
	chunk    int

	mu    sync.Mutex
	cache map[string]*accountDefs
}

var (
	_ profiles.ChangeHook    = (*Service)(nil)
	_ changelog.MemberSource = (*Service)(nil)
	_ Profiles               = (*profiles.Store)(nil)
)

// New returns a Service. p may be nil when the Service must exist before the
// profiles store (which takes the Service as its ChangeHook): pass it with
// UseProfiles before list membership or re-evaluation is used.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, p Profiles, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = ChunkSizeDefault
	}
	return &Service{
		rdb: rdb, keys: keys{ns: ns}, profiles: p, now: opts.Clock,
		log: opts.Logger.With("component", "audiences"), chunk: opts.ChunkSize,
		cache: make(map[string]*accountDefs),
	}
}

// UseProfiles sets the profiles store. Call it while wiring, before the
// Service is used.
func (s *Service) UseProfiles(p Profiles) { s.profiles = p }

// def is one audience with its compiled rule.
type def struct {
	Audience
	rule compiled
}

// accountDefs is a snapshot of an account's definitions at one version.
type accountDefs struct {
	// needsFields: some rule reads a profile data field (not only
	// identities, id, first or last seen).
	needsFields bool
	version     string
	list        []*def // by slug
	bySlug      map[string]*def
}

// defs returns the account's definitions, from the cache when fresh is false.
// Staleness is detected by the membership script, which then calls defs with
// fresh true.
func (s *Service) defs(ctx context.Context, acct string, fresh bool) (*accountDefs, error) {
	if !fresh {
		s.mu.Lock()
		d := s.cache[acct]
		s.mu.Unlock()
		if d != nil {
			return d, nil
		}
	}
	d, err := s.load(ctx, acct)
	if err != nil {
		return nil, err
	}
	if missingBuiltin(d) {
		if _, err := s.EnsureDefaults(ctx, acct); err != nil {
			return nil, err
		}
		if d, err = s.load(ctx, acct); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.cache[acct] = d
	s.mu.Unlock()
	return d, nil
}

// invalidate drops the cached definitions of the account after this process
// changed them (other processes notice through the version).
func (s *Service) invalidate(acct string) {
	s.mu.Lock()
	delete(s.cache, acct)
	s.mu.Unlock()
}

func missingBuiltin(d *accountDefs) bool {
	for _, b := range builtins {
		if d.bySlug[b.Slug] == nil {
			return true
		}
	}
	return false
}

func (s *Service) load(ctx context.Context, acct string) (*accountDefs, error) {
	var verCmd *redis.StringCmd
	var allCmd *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		verCmd = p.Get(ctx, s.keys.version(acct))
		allCmd = p.HGetAll(ctx, s.keys.defs(acct))
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("loading audiences of account %q: %w", acct, err)
	}
	d := &accountDefs{version: "0", bySlug: make(map[string]*def)}
	if v, err := verCmd.Result(); err == nil {
		d.version = v
	}
	for slug, raw := range allCmd.Val() {
		var a Audience
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			s.log.Error("skipping unreadable audience definition", "account", acct, "slug", slug, "error", err)
			continue
		}
		x := &def{Audience: a}
		if a.Kind == KindRule {
			r, err := ParseRule(a.Rule)
			if err == nil {
				x.rule, err = compileRule(r, "rule")
				d.needsFields = d.needsFields || readsFields(r)
			}
			if err != nil {
				s.log.Error("skipping audience with an invalid stored rule", "account", acct, "slug", slug, "error", err)
				continue
			}
		}
		d.list = append(d.list, x)
		d.bySlug[slug] = x
	}
	sort.Slice(d.list, func(i, j int) bool { return d.list[i].Slug < d.list[j].Slug })
	return d, nil
}

// EnsureDefaults creates the built-in audiences of the account if they are
// missing, and reports whether it created any. It is idempotent and cheap; the
// Service also calls it itself the first time it sees an account. When it
// created audiences in an account that already had profiles, run
// ReevaluateChunk for them.
func (s *Service) EnsureDefaults(ctx context.Context, acct string) (bool, error) {
	now := s.now().UTC()
	args := []any{"ensure"}
	for _, b := range builtins {
		b.CreatedAt, b.UpdatedAt = now, now
		raw, err := json.Marshal(b)
		if err != nil {
			return false, fmt.Errorf("encoding built-in audience %q: %w", b.Slug, err)
		}
		args = append(args, b.Slug, raw)
	}
	n, err := defScript.Run(ctx, s.rdb, []string{s.keys.defs(acct), s.keys.version(acct)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("creating built-in audiences of account %q: %w", acct, err)
	}
	return n > 0, nil
}

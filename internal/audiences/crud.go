package audiences

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/brazesync/brazesync/internal/fault"
)

// Info is an audience with its current size and the progress of its latest
// re-evaluation (rule audiences).
type Info struct {
	Audience
	Size         int64     `json:"size"`
	Reevaluation *Progress `json:"reevaluation,omitempty"`
}

// Create adds an audience to the account. A rule audience starts empty, with
// its re-evaluation "pending": the caller enqueues the re-evaluation
// (ReevaluateChunk until done) so that existing profiles are placed; profiles
// that change meanwhile are placed at once.
func (s *Service) Create(ctx context.Context, acct string, a Audience) (Audience, error) {
	a.Builtin = false
	if _, err := validate(&a); err != nil {
		return Audience{}, err
	}
	if _, err := s.defs(ctx, acct, false); err != nil { // built-ins first
		return Audience{}, err
	}
	a.CreatedAt = s.now().UTC()
	a.UpdatedAt = a.CreatedAt
	a.Rule = compactJSON(a.Rule)
	raw, err := json.Marshal(a)
	if err != nil {
		return Audience{}, fmt.Errorf("encoding audience %q: %w", a.Slug, err)
	}
	n, err := defScript.Run(ctx, s.rdb, []string{s.keys.defs(acct), s.keys.version(acct)}, "create", a.Slug, raw).Int()
	if err != nil {
		return Audience{}, fmt.Errorf("creating audience %q of account %q: %w", a.Slug, acct, err)
	}
	if n == 0 {
		return Audience{}, fmt.Errorf("audience %q of account %q: %w", a.Slug, acct, ErrExists)
	}
	s.invalidate(acct)
	if a.Kind == KindRule {
		if err := s.markPending(ctx, acct, a.Slug); err != nil {
			return a, err
		}
	}
	return a, nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return json.RawMessage(b.Bytes())
}

// Exists returns nil when the audience exists in the account, an error
// wrapping ErrNotFound when it does not.
func (s *Service) Exists(ctx context.Context, acct, slug string) error {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return err
	}
	if d.bySlug[slug] == nil {
		return fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	return nil
}

// Get returns an audience with its size.
func (s *Service) Get(ctx context.Context, acct, slug string) (Info, error) {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return Info{}, err
	}
	x := d.bySlug[slug]
	if x == nil {
		return Info{}, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	infos, err := s.infos(ctx, acct, []*def{x})
	if err != nil {
		return Info{}, err
	}
	return infos[0], nil
}

// List returns every audience of the account, by slug, with sizes.
func (s *Service) List(ctx context.Context, acct string) ([]Info, error) {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return nil, err
	}
	return s.infos(ctx, acct, d.list)
}

func (s *Service) infos(ctx context.Context, acct string, defs []*def) ([]Info, error) {
	pipe := s.rdb.Pipeline()
	sizes := make([]func() int64, len(defs))
	progs := make([]func() map[string]string, len(defs))
	for i, x := range defs {
		c := pipe.BitCount(ctx, s.keys.members(acct, x.Slug), nil)
		sizes[i] = c.Val
		p := pipe.HGetAll(ctx, s.keys.progress(acct, x.Slug))
		progs[i] = p.Val
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading audience sizes of account %q: %w", acct, err)
	}
	out := make([]Info, len(defs))
	for i, x := range defs {
		out[i] = Info{Audience: x.Audience, Size: sizes[i](), Reevaluation: parseProgress(progs[i]())}
	}
	return out, nil
}

// Patch changes some fields of an audience; nil fields are left alone.
type Patch struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Rule        json.RawMessage `json:"rule,omitempty"`
}

// Update applies p to the audience. When the rule changes, the re-evaluation
// becomes "pending" and ruleChanged is true: the caller enqueues it.
func (s *Service) Update(ctx context.Context, acct, slug string, p Patch) (a Audience, ruleChanged bool, err error) {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return Audience{}, false, err
	}
	x := d.bySlug[slug]
	if x == nil {
		return Audience{}, false, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	if x.Builtin {
		return Audience{}, false, fmt.Errorf("audience %q: %w", slug, ErrBuiltin)
	}
	a = x.Audience
	if p.Name != nil {
		a.Name = *p.Name
	}
	if p.Description != nil {
		a.Description = *p.Description
	}
	if len(p.Rule) != 0 {
		if a.Kind != KindRule {
			return Audience{}, false, &fault.ValidationError{Field: "rule", Message: "a list audience has no rule"}
		}
		nr := compactJSON(p.Rule)
		ruleChanged = string(nr) != string(a.Rule)
		a.Rule = nr
	}
	if _, err := validate(&a); err != nil {
		return Audience{}, false, err
	}
	a.UpdatedAt = s.now().UTC()
	raw, err := json.Marshal(a)
	if err != nil {
		return Audience{}, false, fmt.Errorf("encoding audience %q: %w", slug, err)
	}
	n, err := defScript.Run(ctx, s.rdb, []string{s.keys.defs(acct), s.keys.version(acct)}, "update", slug, raw).Int()
	if err != nil {
		return Audience{}, false, fmt.Errorf("updating audience %q of account %q: %w", slug, acct, err)
	}
	if n == 0 {
		return Audience{}, false, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	s.invalidate(acct)
	if ruleChanged {
		if err := s.markPending(ctx, acct, slug); err != nil {
			return a, true, err
		}
	}
	return a, ruleChanged, nil
}

// Delete removes the audience. Its members exit it first (each exit is
// logged, so consumers of the change log remove it downstream), in chunks;
// the definition is removed before, so no profile enters it meanwhile.
func (s *Service) Delete(ctx context.Context, acct, slug string) error {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return err
	}
	x := d.bySlug[slug]
	if x == nil {
		return fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	if x.Builtin {
		return fmt.Errorf("audience %q: %w", slug, ErrBuiltin)
	}
	n, err := defScript.Run(ctx, s.rdb, []string{s.keys.defs(acct), s.keys.version(acct)}, "delete", slug).Int()
	if err != nil {
		return fmt.Errorf("deleting audience %q of account %q: %w", slug, acct, err)
	}
	if n == 0 {
		return fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	s.invalidate(acct)
	for {
		ids, _, err := s.Members(ctx, acct, slug, "", s.chunk)
		if err != nil {
			return fmt.Errorf("emptying deleted audience %q of account %q: %w", slug, acct, err)
		}
		if len(ids) == 0 {
			break
		}
		b := s.newBatch(acct, "", []scopeAud{{slug: slug, decided: true}})
		for _, id := range ids {
			b.add(id, "0", "")
		}
		if _, err := b.run(ctx, s); err != nil {
			return fmt.Errorf("emptying deleted audience %q of account %q: %w", slug, acct, err)
		}
	}
	if err := s.rdb.Unlink(ctx, s.keys.members(acct, slug), s.keys.progress(acct, slug)).Err(); err != nil {
		return fmt.Errorf("removing keys of deleted audience %q of account %q: %w", slug, acct, err)
	}
	return nil
}

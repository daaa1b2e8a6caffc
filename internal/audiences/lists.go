package audiences

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MaxMembersPerCall bounds the identities of one UpdateMembers call.
const MaxMembersPerCall = 10000

// Identity names a person by identity fields, e.g. {"email": "x@y"}. With
// several fields, the first one (in name order) that finds a profile wins
// for removal; all are given to the profiles store for addition.
type Identity map[string]string

// MemberCounts sums up an UpdateMembers call.
type MemberCounts struct {
	// Added: profiles that entered the audience.
	Added int64 `json:"added"`
	// Removed: profiles that exited it.
	Removed int64 `json:"removed"`
	// Unchanged: identities whose profile was already in (add) or already
	// out (remove), including repeats within the call.
	Unchanged int64 `json:"unchanged"`
	// NotFound: identities to remove that match no profile.
	NotFound int64 `json:"not_found"`
}

// UpdateMembers adds and removes members of a list audience by identity.
//
// An identity to add that matches no profile gets a new, empty profile with
// that identity (through the profiles store's Resolve), so that the list
// keeps the person and the profile fills in when data about them arrives
// (a later import or webhook with the same identity lands on that profile).
// An identity to remove that matches no profile is counted as NotFound.
// An identity with no field or an empty value is invalid (ErrInvalid) and
// nothing is changed.
func (s *Service) UpdateMembers(ctx context.Context, acct, slug string, add, remove []Identity) (MemberCounts, error) {
	var counts MemberCounts
	if len(add)+len(remove) > MaxMembersPerCall {
		return counts, fmt.Errorf("%w: at most %d identities per call", ErrInvalid, MaxMembersPerCall)
	}
	for i, id := range add {
		if err := checkIdentity(id); err != nil {
			return counts, fmt.Errorf("%w: add[%d]: %s", ErrInvalid, i, err)
		}
	}
	for i, id := range remove {
		if err := checkIdentity(id); err != nil {
			return counts, fmt.Errorf("%w: remove[%d]: %s", ErrInvalid, i, err)
		}
	}
	if s.profiles == nil {
		return counts, errors.New("audiences: list membership needs a profiles store")
	}
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return counts, err
	}
	x := d.bySlug[slug]
	if x == nil {
		return counts, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
	}
	if x.Kind != KindList {
		return counts, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotList)
	}
	b := s.newBatch(acct, "", []scopeAud{{slug: slug, decided: true}})
	for _, id := range add {
		pid, err := s.profiles.Resolve(ctx, acct, id)
		if err != nil {
			return counts, fmt.Errorf("resolving a profile to add to audience %q: %w", slug, err)
		}
		b.add(pid, "1", "")
	}
	for _, id := range remove {
		pid, err := s.lookup(ctx, acct, id)
		if err != nil {
			return counts, fmt.Errorf("looking up a profile to remove from audience %q: %w", slug, err)
		}
		if pid == "" {
			counts.NotFound++
			continue
		}
		b.add(pid, "0", "")
	}
	c, err := b.run(ctx, s)
	if err != nil {
		return counts, err
	}
	counts.Added, counts.Removed = c.Entered, c.Exited
	counts.Unchanged = c.Profiles - c.Entered - c.Exited
	return counts, nil
}

func checkIdentity(id Identity) error {
	if len(id) == 0 {
		return errors.New("an identity needs at least one field, e.g. {\"email\": \"x@y\"}")
	}
	for f, v := range id {
		if strings.TrimSpace(f) == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("identity field %q has an empty name or value", f)
		}
	}
	return nil
}

func (s *Service) lookup(ctx context.Context, acct string, id Identity) (string, error) {
	fields := make([]string, 0, len(id))
	for f := range id {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		pid, err := s.profiles.Lookup(ctx, acct, f, id[f])
		if err != nil {
			return "", err
		}
		if pid != "" {
			return pid, nil
		}
	}
	return "", nil
}

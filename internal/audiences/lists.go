package audiences

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
)

// MaxMembersPerCall bounds the identities of one UpdateMembers call.
const MaxMembersPerCall = 10000

// ListStream is the profiles stream through which UpdateMembers creates the
// profiles of identities that have none. Its mapping says which fields are
// identities (by default email, external_id, user_id and braze_id).
const ListStream = "audience_lists"

// Identity names a person by identity fields, e.g. {"email": "x@y"}; with
// several fields, any of them finds the profile.
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
	// Created: profiles created for identities to add that had none.
	Created int64 `json:"created"`
	// NotFound: identities to remove that match no profile.
	NotFound int64 `json:"not_found"`
	// Rejected: identities to add that could not be given a profile (their
	// fields are not identities of ListStream), with the reasons.
	Rejected []Rejection `json:"rejected,omitempty"`
}

// Rejection names an identity to add (by its index in add) that was not
// added, and why.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// UpdateMembers adds and removes members of a list audience by identity.
//
// An identity to add that matches no profile gets a new profile holding just
// that identity, written through the profiles store on ListStream, so that
// the list keeps the person and the profile fills in when data about them
// arrives (a later import or webhook with the same identity lands on that
// profile; the built-in audiences see the new profile at once). An identity
// whose fields are not identities of that stream is rejected with the
// reason. An identity to remove that matches no profile is counted as
// NotFound. An identity with no field or an empty value makes the whole call
// invalid (*fault.ValidationError) and changes nothing.
func (s *Service) UpdateMembers(ctx context.Context, acct, slug string, add, remove []Identity) (MemberCounts, error) {
	var counts MemberCounts
	if len(add)+len(remove) > MaxMembersPerCall {
		return counts, &fault.ValidationError{Field: "add", Message: fmt.Sprintf("at most %d identities per call (add and remove together)", MaxMembersPerCall)}
	}
	for i, id := range add {
		if err := checkIdentity(id); err != nil {
			return counts, &fault.ValidationError{Field: fmt.Sprintf("add[%d]", i), Message: err.Error()}
		}
	}
	for i, id := range remove {
		if err := checkIdentity(id); err != nil {
			return counts, &fault.ValidationError{Field: fmt.Sprintf("remove[%d]", i), Message: err.Error()}
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
	b := s.newBatch(acct, d.version, []scopeAud{{slug: slug, decided: true}})
	var missing []int // indices in add without a profile
	for i, id := range add {
		pid, err := s.resolve(ctx, acct, id)
		if err != nil {
			return counts, fmt.Errorf("resolving a profile to add to audience %q: %w", slug, err)
		}
		if pid == "" {
			missing = append(missing, i)
			continue
		}
		b.add(pid, "1", "")
	}
	if len(missing) > 0 {
		created, rejected, err := s.createProfiles(ctx, acct, add, missing, b)
		if err != nil {
			return counts, err
		}
		counts.Created, counts.Rejected = created, rejected
	}
	for _, id := range remove {
		pid, err := s.resolve(ctx, acct, id)
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
	if errors.Is(err, errStale) {
		// Some definition changed meanwhile; apply if this one still exists.
		if d, err = s.defs(ctx, acct, true); err != nil {
			return counts, err
		}
		if x := d.bySlug[slug]; x == nil || x.Kind != KindList {
			return counts, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
		}
		b.version = d.version
		c, err = b.run(ctx, s)
	}
	if err != nil {
		return counts, err
	}
	counts.Added, counts.Removed = c.Entered, c.Exited
	counts.Unchanged = c.Profiles - c.Entered - c.Exited
	return counts, nil
}

// createProfiles creates profiles for add[i], i in missing, adds them to b,
// and returns how many were created and the rejections.
func (s *Service) createProfiles(ctx context.Context, acct string, add []Identity, missing []int, b *batch) (int64, []Rejection, error) {
	now := s.now()
	recs := make([]profiles.Record, len(missing))
	for k, i := range missing {
		recs[k] = profiles.StringRecord(add[i], now)
	}
	res, err := s.profiles.Upsert(ctx, acct, ListStream, recs)
	if err != nil {
		return 0, nil, fmt.Errorf("creating profiles for %d new list members: %w", len(missing), err)
	}
	var rejected []Rejection
	bad := make(map[int]bool, len(res.Rejected))
	for _, r := range res.Rejected {
		bad[r.Index] = true
		rejected = append(rejected, Rejection{Index: missing[r.Index], Reason: r.Reason})
	}
	var created int64
	for k, i := range missing {
		if bad[k] {
			continue
		}
		pid, err := s.resolve(ctx, acct, add[i])
		if err != nil {
			return created, rejected, fmt.Errorf("resolving a created profile: %w", err)
		}
		if pid == "" {
			rejected = append(rejected, Rejection{Index: i, Reason: fmt.Sprintf("none of its fields is an identity of stream %q", ListStream)})
			continue
		}
		created++
		b.add(pid, "1", "")
	}
	return created, rejected, nil
}

func checkIdentity(id Identity) error {
	if len(id) == 0 {
		return errors.New(`an identity needs at least one field, e.g. {"email": "x@y"}`)
	}
	for f, v := range id {
		if strings.TrimSpace(f) == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("identity field %q has an empty name or value", f)
		}
	}
	return nil
}

// resolve returns the profile id holding the identity, "" when none does.
func (s *Service) resolve(ctx context.Context, acct string, id Identity) (string, error) {
	pid, err := s.profiles.Resolve(ctx, acct, id)
	if errors.Is(err, profiles.ErrNotFound) {
		return "", nil
	}
	return pid, err
}

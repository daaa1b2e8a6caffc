package audiences

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
)

// Counts sums up a membership update.
type Counts struct {
	Profiles int64 `json:"profiles"`
	Entered  int64 `json:"entered"`
	Exited   int64 `json:"exited"`
}

func (c *Counts) add(o Counts) {
	c.Profiles += o.Profiles
	c.Entered += o.Entered
	c.Exited += o.Exited
}

// maxScriptProfiles bounds the profiles of one membership script call, so
// that one call does not block Redis for long.
const maxScriptProfiles = 1000

// errStale: the definitions changed since the batch was built.
var errStale = errors.New("audience definitions changed")

// scopeAud is an audience a membership batch may change. decided audiences
// follow the specs of live profiles; the others are only left by profiles
// that are gone (list audiences during a profile change).
type scopeAud struct {
	slug    string
	decided bool
}

// batch collects membership decisions for one membershipScript run.
type batch struct {
	acct    string
	version string
	// hook: every rule audience is in scope and decided from profile data,
	// so the script may keep and trust per-profile signatures.
	hook  bool
	scope []scopeAud
	ids   []string
	specs []string
	survs []string
}

func (s *Service) newBatch(acct, version string, scope []scopeAud) *batch {
	return &batch{acct: acct, version: version, scope: scope}
}

// add records the decision for one profile: spec "D" when it was deleted,
// "M" when it was merged into survivor, else one byte per scope audience,
// '1' if the profile is in it, else '0'.
func (b *batch) add(id, spec, survivor string) {
	b.ids = append(b.ids, id)
	b.specs = append(b.specs, spec)
	b.survs = append(b.survs, survivor)
}

// run applies the batch, maxScriptProfiles profiles per script call. It
// returns errStale (wrapped) if the definitions changed; what was applied
// before is consistent and re-applying the batch is harmless.
func (b *batch) run(ctx context.Context, s *Service) (Counts, error) {
	var total Counts
	a := len(b.scope)
	head := make([]string, 0, 3+a)
	head = append(head, s.keys.version(b.acct), s.keys.changelog(b.acct), s.keys.sig(b.acct))
	mode := "set"
	if b.hook {
		mode = "hook"
	}
	for _, sc := range b.scope {
		head = append(head, s.keys.members(b.acct, sc.slug))
	}
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	for i, id := range b.ids {
		if err := checkID(id); err != nil {
			return total, fmt.Errorf("updating membership in account %q: %w", b.acct, err)
		}
		if b.specs[i] == "M" {
			if err := checkID(b.survs[i]); err != nil {
				return total, fmt.Errorf("updating membership in account %q: survivor of %s: %w", b.acct, id, err)
			}
		}
	}
	for start := 0; start < len(b.ids); start += maxScriptProfiles {
		end := min(start+maxScriptProfiles, len(b.ids))
		n := end - start
		args := make([]any, 0, 5+2*a+2*n)
		args = append(args, b.version, now, a, n, mode)
		for _, sc := range b.scope {
			args = append(args, sc.slug)
		}
		for _, sc := range b.scope {
			if sc.decided {
				args = append(args, "1")
			} else {
				args = append(args, "0")
			}
		}
		var survivors []any
		for i := start; i < end; i++ {
			args = append(args, b.ids[i], b.specs[i])
			if b.specs[i] == "M" {
				survivors = append(survivors, b.survs[i])
			}
		}
		args = append(args, survivors...)
		res, err := membershipScript.Run(ctx, s.rdb, head, args...).Int64Slice()
		if err != nil {
			if strings.HasPrefix(err.Error(), "STALE") {
				return total, fmt.Errorf("updating membership in account %q: %w", b.acct, errStale)
			}
			return total, fmt.Errorf("updating membership of %d profiles in account %q: %w", n, b.acct, err)
		}
		total.add(Counts{Profiles: int64(n), Entered: res[0], Exited: res[1]})
	}
	return total, nil
}

// ProfilesChanged implements profiles.ChangeHook: it evaluates the account's
// rule audiences against every changed profile and records the entries and
// exits. A deleted or merged-away profile exits every audience; the survivor
// of a merge takes over the list audiences of the profile merged into it
// (its rule audiences follow from its own change). It costs one Redis round
// trip per 1,000 changes.
func (s *Service) ProfilesChanged(ctx context.Context, acct string, changes []profiles.Change) error {
	if len(changes) == 0 {
		return nil
	}
	_, err := s.applyChanges(ctx, acct, changes)
	return err
}

func (s *Service) applyChanges(ctx context.Context, acct string, changes []profiles.Change) (Counts, error) {
	var err error
	for attempt := range 3 {
		var d *accountDefs
		d, err = s.defs(ctx, acct, attempt > 0)
		if err != nil {
			return Counts{}, err
		}
		scope := make([]scopeAud, len(d.list))
		for i, x := range d.list {
			scope[i] = scopeAud{slug: x.Slug, decided: x.Kind == KindRule}
		}
		b := s.newBatch(acct, d.version, scope)
		b.hook = true
		now := s.now()
		var spec []byte
		for _, c := range changes {
			if c.ProfileID == "" && c.Profile != nil {
				c.ProfileID = c.Profile.ID
			}
			if c.ProfileID == "" {
				continue // nothing to key it by
			}
			if c.MergedInto != "" {
				b.add(c.ProfileID, "M", c.MergedInto)
				continue
			}
			if c.Profile == nil {
				b.add(c.ProfileID, "D", "")
				continue
			}
			spec = appendSpec(spec[:0], d.list, c.Profile, now)
			b.add(c.ProfileID, string(spec), "")
		}
		var counts Counts
		counts, err = b.run(ctx, s)
		if !errors.Is(err, errStale) {
			return counts, err
		}
	}
	return Counts{}, err
}

// appendSpec appends one byte per audience of list: '1' for the rule
// audiences that p matches at now, '0' for the others.
func appendSpec(spec []byte, list []*def, p *profiles.Profile, now time.Time) []byte {
	v := view{p: p}
	for _, x := range list {
		c := byte('0')
		if x.Kind == KindRule && x.rule.match(&v, now) {
			c = '1'
		}
		spec = append(spec, c)
	}
	return spec
}

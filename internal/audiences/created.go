package audiences

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/profiles"
)

var _ profiles.CreationHook = (*Service)(nil)

// CreationKeys implements profiles.CreationHook: a batch that creates
// profiles watches the account's definitions version.
func (s *Service) CreationKeys(acct string) []string {
	return []string{s.keys.version(acct)}
}

// CreatedWrites implements profiles.CreationHook: committed with the batch
// that creates them, new profiles enter the rule audiences they match. A new
// profile is in no audience yet, so this reads nothing and writes, per
// audience, one BITFIELD that sets its new members' bits, and one change-log
// entry per changelog.MaxProfilesPerEntry profiles that entered the same
// audiences. (No signature is stored: a profile's first change reads its
// bits.) vals[0] is the definitions version the batch read (its
// commit checks it is unchanged); when the cached definitions are of another
// version they are reloaded and profiles.ErrStale makes the batch start
// again.
func (s *Service) CreatedWrites(ctx context.Context, acct string, vals []string, created []*profiles.Profile) ([][]any, error) {
	version := "0"
	if len(vals) > 0 && vals[0] != "" {
		version = vals[0]
	}
	d, err := s.defs(ctx, acct, false)
	if err != nil {
		return nil, err
	}
	if d.version != version {
		// Reload, and have the batch start again: the profiles it built may
		// lack data fields that the new definitions read (NeedsFields).
		if _, err := s.defs(ctx, acct, true); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("audience definitions of account %q: cached version %s, current %s: %w", acct, d.version, version, profiles.ErrStale)
	}
	var cmds [][]any
	members := make([][]any, len(d.list))
	now := s.now()
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	// Profiles that entered the same audiences share change-log entries.
	type group struct {
		slugs string
		ids   []string
	}
	var groups []*group
	bySpec := map[string]*group{}
	var spec []byte
	var slugs []string
	for _, p := range created {
		if err := checkID(p.ID); err != nil {
			return nil, fmt.Errorf("audiences of new profiles of account %q: %w", acct, err)
		}
		spec = appendSpec(spec[:0], d.list, p, now)
		slugs = slugs[:0]
		for i, c := range spec {
			if c == '1' {
				members[i] = append(members[i], "SET", "u1", p.ID, 1)
				slugs = append(slugs, d.list[i].Slug)
			}
		}
		if len(slugs) == 0 {
			continue
		}
		g := bySpec[string(spec)]
		if g == nil {
			g = &group{slugs: strings.Join(slugs, ",")}
			bySpec[string(spec)] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, p.ID)
	}
	for _, g := range groups {
		for from := 0; from < len(g.ids); from += changelog.MaxProfilesPerEntry {
			ids := g.ids[from:min(from+changelog.MaxProfilesPerEntry, len(g.ids))]
			cmds = append(cmds, []any{"XADD", s.keys.changelog(acct), "*",
				changelog.FieldAudience, g.slugs, changelog.FieldProfile, strings.Join(ids, ","),
				changelog.FieldOp, string(changelog.OpEnter), changelog.FieldTime, nowMS})
		}
	}
	for i, m := range members {
		if len(m) > 0 {
			cmds = append(cmds, append([]any{"BITFIELD", s.keys.members(acct, d.list[i].Slug)}, m...))
		}
	}
	return cmds, nil
}

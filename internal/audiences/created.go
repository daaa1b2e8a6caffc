package audiences

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/profiles"
)

var (
	_ profiles.CreationHook    = (*Service)(nil)
	_ profiles.CreationSettler = (*Service)(nil)
)

// CreationKeys implements profiles.CreationHook: a batch that creates
// profiles watches the account's definitions version.
func (s *Service) CreationKeys(acct string) []string {
	return []string{s.keys.version(acct)}
}

// SettleCreationKeys implements profiles.CreationSettler: it loads the
// account's definitions, which creates the built-in ones (and bumps the
// definitions version) on an account's first use.
func (s *Service) SettleCreationKeys(ctx context.Context, acct string) error {
	_, err := s.defs(ctx, acct, false)
	return err
}

// CreatedWrites implements profiles.CreationHook: committed with the batch
// that creates them, new profiles enter the rule audiences they match. A new
// profile is in no audience yet, so this reads nothing and writes, per
// audience, one BITFIELD that sets its new members' bits (a batch's new
// profiles have consecutive ids, so mostly in runs of 63 bits at once),
// and one change-log entry per changelog.MaxProfilesPerEntry profiles that
// entered the same audiences. (No signature is stored: a profile's first
// change reads its bits.) vals[0] is the definitions version the batch read (its
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
	members := make([][]uint32, len(d.list))
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
		bit, err := parseID(p.ID)
		if err != nil {
			return nil, fmt.Errorf("audiences of new profiles of account %q: %w", acct, err)
		}
		spec = appendSpec(spec[:0], d.list, p, now)
		slugs = slugs[:0]
		for i, c := range spec {
			if c == '1' {
				members[i] = append(members[i], bit)
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
			cmds = append(cmds, appendSetBits([]any{"BITFIELD", s.keys.members(acct, d.list[i].Slug)}, m))
		}
	}
	return cmds, nil
}

// appendSetBits appends to a BITFIELD command the operations that set the
// bits of ids to 1 and no other bit: each run of consecutive ids is set by
// SET operations of at most 63 bits whose value is all ones.
func appendSetBits(cmd []any, ids []uint32) []any {
	slices.Sort(ids)
	for i := 0; i < len(ids); {
		start, n := ids[i], 1
		for i+n < len(ids) && n < 63 && ids[i+n] == start+uint32(n) {
			n++
		}
		j := i + n
		for j < len(ids) && ids[j] == ids[j-1] { // a repeated id
			j++
		}
		cmd = append(cmd, "SET", "u"+strconv.Itoa(n), start, uint64(1)<<n-1)
		i = j
	}
	return cmd
}

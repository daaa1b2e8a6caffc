package profiles

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The identity index is one hash per identity field ("<prefix>ids:email",
// "<prefix>ids:external_id", ...), from the identity's value to the profile
// id. One hash of "<field>:<value>" for every field, as earlier builds kept
// (see MigrateIndex), costs Redis about a third more time per entry written:
// longer fields, in a dictionary three times the size. Writing 1.5 million
// entries of three fields took 1.6 – 1.9 s of Redis time that way, 1.2 –
// 1.4 s this way.
//
// The rest of the package names an identity by its suffix "<field>:<value>"
// (an identity field name holds no ':'); the functions below turn suffixes
// into the commands on the field hashes.

// splitSuffix returns the field and the value of an index suffix.
func splitSuffix(sfx string) (field, value string) {
	field, value, _ = strings.Cut(sfx, ":")
	return field, value
}

// indexGroup is the suffixes of one identity field, and where each stands
// in the caller's list.
type indexGroup struct {
	field  string
	values []string
	at     []int
}

// groupSuffixes splits suffixes by identity field, in first-seen order of
// the fields. A batch holds a handful of fields, so a slice beats a map.
func groupSuffixes(suffixes []string) []indexGroup {
	var groups []indexGroup
	for i, sfx := range suffixes {
		field, value := splitSuffix(sfx)
		g := -1
		for k := range groups {
			if groups[k].field == field {
				g = k
				break
			}
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, indexGroup{field: field})
		}
		groups[g].values = append(groups[g].values, value)
		groups[g].at = append(groups[g].at, i)
	}
	return groups
}

// ErrLegacyIndex: the account's identity index is still in the form of an
// earlier build, which this one does not read; `brazesync admin
// migrate-index` (Store.MigrateIndex) moves it. Reads and writes of the
// account's profiles fail with it until then, rather than miss every
// identity and create duplicates.
var ErrLegacyIndex = errors.New("profiles: the identity index is in the form of an earlier build; run `brazesync admin migrate-index`")

// queueIndexGet queues on pipe the look-up of every suffix, one HMGET per
// identity field, and a check that no index of an earlier build is left.
// Fields in absent (may be nil) are known to have no index hash: they are
// not looked up. The function it returns gives, once pipe has run, the
// profile id of each suffix in the order of suffixes (nil: not indexed),
// or ErrLegacyIndex.
func (k keys) queueIndexGet(ctx context.Context, pipe redis.Pipeliner, account string, suffixes []string, absent map[string]bool) func() ([]any, error) {
	groups := groupSuffixes(suffixes)
	cmds := make([]*redis.SliceCmd, len(groups))
	for g, grp := range groups {
		if !absent[grp.field] {
			cmds[g] = pipe.HMGet(ctx, k.index(account, grp.field), grp.values...)
		}
	}
	legacy := pipe.Exists(ctx, k.legacyIndex(account))
	return func() ([]any, error) {
		if legacy.Val() > 0 {
			return nil, fmt.Errorf("account %q: %w", account, ErrLegacyIndex)
		}
		out := make([]any, len(suffixes))
		for g, grp := range groups {
			if cmds[g] == nil {
				continue
			}
			vals := cmds[g].Val()
			for j, i := range grp.at {
				if j < len(vals) {
					out[i] = vals[j]
				}
			}
		}
		return out, nil
	}
}

// appendIndexSet appends the commands that point each suffix at its id
// (ids[i] for suffixes[i]): one HSET per identity field and per chunk
// entries.
func (k keys) appendIndexSet(cmds [][]any, account string, suffixes, ids []string, chunk int) [][]any {
	// The fields in first-seen order and their counts, then one pass over
	// the suffixes per field: no copy of the values on the way.
	var fields []string
	var counts []int
	for _, sfx := range suffixes {
		field, _ := splitSuffix(sfx)
		g := slices.Index(fields, field)
		if g < 0 {
			g = len(fields)
			fields, counts = append(fields, field), append(counts, 0)
		}
		counts[g]++
	}
	for g, field := range fields {
		var hs []any
		left := counts[g]
		for i, sfx := range suffixes {
			f, value := splitSuffix(sfx)
			if f != field {
				continue
			}
			if hs == nil {
				hs = make([]any, 0, 2+2*min(chunk, left))
				hs = append(hs, "HSET", k.index(account, field))
			}
			hs = append(hs, value, ids[i])
			left--
			if len(hs) == cap(hs) {
				cmds = append(cmds, hs)
				hs = nil
			}
		}
	}
	return cmds
}

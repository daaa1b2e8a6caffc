package audiences

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// MigrateMemberSets moves the account's audience membership from the form
// of builds before member bitmaps (a sorted set of member ids per audience,
// a set of slugs per profile) into the bitmaps, removes the old keys, and
// returns how many memberships it moved. It is safe to run again. Run it
// while no brazesync process writes membership (after stopping the old
// build, before starting this one): a bit a new process cleared meanwhile
// would be set again from the old set.
func (s *Service) MigrateMemberSets(ctx context.Context, acct string) (int, error) {
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return 0, err
	}
	const page = 1000
	moved := 0
	for _, x := range d.list {
		old := s.keys.legacyMembers(acct, x.Slug)
		start := "-"
		for {
			ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: old, Start: start, Stop: "+", ByLex: true, Count: page}).Result()
			if err != nil {
				return moved, fmt.Errorf("migrating members of audience %q of account %q: %w", x.Slug, acct, err)
			}
			if len(ids) == 0 {
				break
			}
			bits := make([]uint32, 0, len(ids))
			sets := make([]string, 0, len(ids))
			for _, id := range ids {
				bit, err := parseID(id)
				if err != nil {
					return moved, fmt.Errorf("migrating members of audience %q of account %q: %w", x.Slug, acct, err)
				}
				bits = append(bits, bit)
				sets = append(sets, s.keys.legacyProfile(acct, id))
			}
			pipe := s.rdb.Pipeline()
			pipe.Do(ctx, appendSetBits([]any{"BITFIELD", s.keys.members(acct, x.Slug)}, bits)...)
			pipe.Unlink(ctx, sets...)
			if _, err := pipe.Exec(ctx); err != nil {
				return moved, fmt.Errorf("migrating members of audience %q of account %q: %w", x.Slug, acct, err)
			}
			moved += len(ids)
			start = "(" + ids[len(ids)-1]
		}
		if err := s.rdb.Unlink(ctx, old).Err(); err != nil {
			return moved, fmt.Errorf("removing the old members of audience %q of account %q: %w", x.Slug, acct, err)
		}
	}
	return moved, nil
}

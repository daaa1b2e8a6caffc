package audiences

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// MemberBitmaps returns the member bitmap of each audience (bit n, counted
// from the most significant bit of byte 0, is 1 when profile n is a
// member; nil for an audience without members), each read whole in one
// round trip: a bulk reader (an export preview of a whole audience) tests
// membership in memory instead of asking Redis per profile.
func (s *Service) MemberBitmaps(ctx context.Context, acct string, slugs []string) ([][]byte, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(slugs))
	for i, slug := range slugs {
		cmds[i] = pipe.Get(ctx, s.keys.members(acct, slug))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the members of %d audiences of account %q: %w", len(slugs), acct, err)
	}
	out := make([][]byte, len(slugs))
	for i, c := range cmds {
		b, err := c.Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("reading the members of audience %q of account %q: %w", slugs[i], acct, err)
		}
		out[i] = b
	}
	return out, nil
}

// BitmapHas reports whether bit id of a member bitmap is 1.
func BitmapHas(bitmap []byte, id uint64) bool {
	i := id / 8
	return i < uint64(len(bitmap)) && bitmap[i]&(0x80>>(id%8)) != 0
}

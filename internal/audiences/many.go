package audiences

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ProfilesAudiences returns, for each profile id, the slugs of the audiences
// it is in, in one round trip. Slugs of audiences deleted since are
// included; callers intersect with the audiences they care about.
func (s *Service) ProfilesAudiences(ctx context.Context, acct string, ids []string) (map[string][]string, error) {
	if len(ids) == 0 {
		return map[string][]string{}, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.SMembers(ctx, s.keys.profile(acct, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading audiences of %d profiles of account %q: %w", len(ids), acct, err)
	}
	out := make(map[string][]string, len(ids))
	for i, c := range cmds {
		out[ids[i]] = c.Val()
	}
	return out, nil
}

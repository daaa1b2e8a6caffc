package profiles

import "context"

// GetMany reads profiles in one round trip, in the order of ids; a missing
// (deleted or merged-away) profile is nil. Unlike Get it does not follow
// merges: the export needs to know that the id itself is gone.
func (s *Store) GetMany(ctx context.Context, account string, ids []string) ([]*Profile, error) {
	return s.getMany(ctx, account, ids)
}

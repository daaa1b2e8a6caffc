package jobs

import (
	"context"
	"time"
)

// Check validates a job as Create would and returns it, without storing
// anything: a preview of a job not created yet works on it. Its ID is
// empty.
func (s *Store) Check(ctx context.Context, account string, in Input) (*Job, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	j := &Job{Account: account, Type: in.Type, Config: map[string]any{}, State: StateRunning, CreatedAt: now, UpdatedAt: now}
	apply(j, in)
	if err := s.validate(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

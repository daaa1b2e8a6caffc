package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/redis/go-redis/v9"
)

// errUnchanged is returned by a mutate function that changes nothing: the
// job is returned as it is, its version unchanged.
var errUnchanged = errors.New("unchanged")

// mutate loads a job, applies f, bumps its version and stores it, under an
// optimistic lock on the account's job hash, then brings its schedule entry
// in line. When f returns errUnchanged nothing is written.
func (s *Store) mutate(ctx context.Context, account, id string, f func(j *Job) error) (*Job, error) {
	var out *Job
	key := s.key(account)
	for attempt := 0; attempt < 20; attempt++ {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			j, err := txJob(ctx, tx, key, id)
			if err != nil {
				return err
			}
			if err := f(j); err != nil {
				if errors.Is(err, errUnchanged) {
					out = j
				}
				return err
			}
			j.Version++
			j.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
			out = j
			return txSaveJob(ctx, tx, key, j)
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if errors.Is(err, errUnchanged) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		return out, s.syncSchedule(ctx, *out)
	}
	return nil, fmt.Errorf("updating job %s: too much contention", id)
}

// syncSchedule makes the job's entry in the schedule index match j, its
// latest version. The index is a global key, in another slot than the job
// on Redis Cluster, so it cannot be written in the job's transaction: each
// writer sets it after its commit and then reads the job again; if a newer
// version was stored meanwhile, it sets the entry from that one. Whoever
// writes the entry last has seen it match the latest version, and the
// scheduler checks the job's state before it runs an occurrence anyway.
func (s *Store) syncSchedule(ctx context.Context, j Job) error {
	for range 20 {
		pipe := s.rdb.Pipeline()
		s.reschedule(ctx, pipe, &j)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("job %s stored; updating its schedule: %w", j.ID, err)
		}
		cur, err := s.Get(ctx, j.Account, j.ID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("job %s stored; checking its schedule: %w", j.ID, err)
		}
		if cur.Version == j.Version {
			return nil
		}
		j = *cur
	}
	return fmt.Errorf("job %s stored; updating its schedule: too much contention", j.ID)
}

// Update changes a job's settings; the type cannot change.
func (s *Store) Update(ctx context.Context, account, id string, in Input) (*Job, error) {
	return s.mutate(ctx, account, id, func(j *Job) error {
		if j.State == StateDeleted {
			return fmt.Errorf("%w: job is deleted", ErrConflict)
		}
		if in.Type != "" && in.Type != j.Type {
			return &fault.ValidationError{Field: "type", Message: "cannot be changed; create a new job"}
		}
		j.Config = maps.Clone(j.Config)
		apply(j, in)
		return s.validate(ctx, j)
	})
}

// Pause stops a job from running until Resume. Pausing a paused job
// changes nothing (its version included).
func (s *Store) Pause(ctx context.Context, account, id string) (*Job, error) {
	return s.move(ctx, account, id, StatePaused, map[string]string{StateDeleted: "job is deleted"})
}

// Resume makes a paused, failed or completed job running again. Resuming a
// running job changes nothing (its version included).
func (s *Store) Resume(ctx context.Context, account, id string) (*Job, error) {
	return s.move(ctx, account, id, StateRunning, map[string]string{StateDeleted: "job is deleted"})
}

// Delete marks a job deleted for good; its history stays readable.
func (s *Store) Delete(ctx context.Context, account, id string) (*Job, error) {
	return s.move(ctx, account, id, StateDeleted, nil)
}

// SetState records a state decided by a worker (completed, failed). It does
// not override paused or deleted.
func (s *Store) SetState(ctx context.Context, account, id, state string) (*Job, error) {
	return s.mutate(ctx, account, id, func(j *Job) error {
		if j.State == StatePaused || j.State == StateDeleted || j.State == state {
			return errUnchanged
		}
		j.State = state
		return nil
	})
}

// PrepareRun checks that a job may run now (asked by a client): a running,
// completed or failed job may; a paused or deleted one may not. It makes a
// completed or failed job running again.
func (s *Store) PrepareRun(ctx context.Context, account, id string) (*Job, error) {
	return s.move(ctx, account, id, StateRunning, map[string]string{
		StatePaused:  "job is paused; resume it first",
		StateDeleted: "job is deleted",
	})
}

// move gives a job the state to: a job in a state refused names is a
// conflict, with that reason, and a job already in state to is unchanged.
func (s *Store) move(ctx context.Context, account, id, to string, refused map[string]string) (*Job, error) {
	return s.mutate(ctx, account, id, func(j *Job) error {
		if why, ok := refused[j.State]; ok {
			return fmt.Errorf("%w: %s", ErrConflict, why)
		}
		if j.State == to {
			return errUnchanged
		}
		j.State = to
		return nil
	})
}

// txJob reads and decodes job id of the job hash key, watched by tx:
// ErrNotFound when there is none.
func txJob(ctx context.Context, tx *redis.Tx, key, id string) (*Job, error) {
	b, err := tx.HGet(ctx, key, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	j, err := decodeJob(b)
	if err != nil {
		return nil, fmt.Errorf("decoding job %s: %w", id, err)
	}
	return j, nil
}

// txSaveJob stores j in the job hash key in tx's transaction: it is
// written only if what tx watches is unchanged.
func txSaveJob(ctx context.Context, tx *redis.Tx, key string, j *Job) error {
	nb, err := encodeJob(j)
	if err != nil {
		return err
	}
	_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, key, j.ID, nb)
		return nil
	})
	return err
}

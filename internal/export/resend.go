package export

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/redis/go-redis/v9"
)

// representation names how a job writes membership, as far as Braze's
// attributes differ: "array", or "boolean:" and the prefix. When it
// changes, every user Braze holds a state of is sent again, so that the
// old representation is cleared (buildUser).
func representation(c Config) string {
	if c.Mode == ModeBoolean {
		return "boolean:" + c.AttributePrefix
	}
	return string(ModeArray)
}

// startResend makes every user the job has a sent state of wait again,
// walked in chunks by the backfill (resendChunk): a user whose state stays
// the same costs nothing, the others are sent. The backfill's own walk of
// audiences, if any, goes on after it.
func (e *Engine) startResend(ctx context.Context, acct, jobID string) error {
	key := e.k.state(acct, jobID)
	pending, err := e.rdb.HGet(ctx, key, "bf_pending").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading backfill of job %s: %w", jobID, err)
	}
	fields := []any{"rs_pending", "1", "rs_cursor", "0"}
	if pending != "1" {
		n, err := e.rdb.HLen(ctx, e.k.sent(acct, jobID)).Result()
		if err != nil {
			return fmt.Errorf("counting sent users of job %s: %w", jobID, err)
		}
		fields = append(fields, "bf_pending", "1", "bf_cursor", "", "bf_auds", "[]", "bf_seen", 0, "bf_total", n)
	}
	if err := e.rdb.HSet(ctx, key, fields...).Err(); err != nil {
		return fmt.Errorf("starting to send again the users of job %s: %w", jobID, err)
	}
	return nil
}

// resendChunk marks one chunk of the job's sent users as waiting and moves
// the walk's cursor; the walk ends when the scan comes back to 0.
func (e *Engine) resendChunk(ctx context.Context, acct, jobID, cursor string) error {
	var cur uint64
	if cursor != "" {
		var err error
		if cur, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return fmt.Errorf("job %s: bad cursor %q of the walk of sent users: %w", jobID, cursor, err)
		}
	}
	kv, next, err := e.rdb.HScan(ctx, e.k.sent(acct, jobID), cur, "", int64(e.opts.BackfillChunk)).Result()
	if err != nil {
		return fmt.Errorf("walking sent users of job %s: %w", jobID, err)
	}
	if len(kv) > 0 {
		now := float64(e.nowMS())
		zs := make([]redis.Z, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			zs = append(zs, redis.Z{Score: now, Member: kv[i]})
		}
		if err := e.rdb.ZAddNX(ctx, e.k.dirty(acct, jobID), zs...).Err(); err != nil {
			return fmt.Errorf("marking sent users of job %s: %w", jobID, err)
		}
	}
	pipe := e.rdb.TxPipeline()
	if next == 0 {
		pipe.HDel(ctx, e.k.state(acct, jobID), "rs_pending", "rs_cursor")
	} else {
		pipe.HSet(ctx, e.k.state(acct, jobID), "rs_cursor", strconv.FormatUint(next, 10))
	}
	pipe.HIncrBy(ctx, e.k.state(acct, jobID), "bf_seen", int64(len(kv)/2))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("moving the walk of sent users of job %s: %w", jobID, err)
	}
	return nil
}

// resendIfRepresentationChanged makes the users of a batch wait again when
// the job's representation changed since the batch was planned with cfg:
// the walk of startResend may have passed them while they were leased, and
// the batch sent them in the old representation (or found them unchanged
// in it). The job is read after the batch completed and its change is
// stored before the walk starts, so every user is caught by one or the
// other.
func (e *Engine) resendIfRepresentationChanged(ctx context.Context, acct, jobID string, cfg Config, leased []lease) error {
	if len(leased) == 0 {
		return nil
	}
	j, err := e.jobs.Get(ctx, acct, jobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil // deleted meanwhile: nothing is sent for it any more
	}
	if err != nil {
		return err
	}
	cur, err := ParseConfig(j.Config)
	if err != nil {
		return err
	}
	if representation(cur) == representation(cfg) {
		return nil
	}
	now := float64(e.nowMS())
	zs := make([]redis.Z, len(leased))
	for i, l := range leased {
		zs[i] = redis.Z{Score: now, Member: l.id}
	}
	if err := e.rdb.ZAddNX(ctx, e.k.dirty(acct, jobID), zs...).Err(); err != nil {
		return fmt.Errorf("marking users of job %s sent in its old representation: %w", jobID, err)
	}
	return nil
}

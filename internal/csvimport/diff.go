package csvimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A generation being built expires if its import never completes.
const diffBuildTTL = 7 * 24 * time.Hour

// beginDiff opens a new generation for job, compared against the last
// completed one.
func (im *Importer) beginDiff(ctx context.Context, job Job) (*diffState, error) {
	gen, err := im.rdb.Incr(ctx, diffSeqKey(im.ns, job.Account, job.ID)).Result()
	if err != nil {
		return nil, fmt.Errorf("starting diff generation of job %q: %w", job.ID, err)
	}
	d := &diffState{gen: gen, newKey: diffGenKey(im.ns, job.Account, job.ID, gen)}
	cur, err := im.rdb.Get(ctx, diffCurrentKey(im.ns, job.Account, job.ID)).Int64()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, fmt.Errorf("reading diff generation of job %q: %w", job.ID, err)
	default:
		d.prevKey = diffGenKey(im.ns, job.Account, job.ID, cur)
	}
	return d, nil
}

// changed reports, per row, whether its values differ from the previous
// generation (new rows count as changed).
func (im *Importer) changed(ctx context.Context, d *diffState, ids, sums []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if d.prevKey == "" {
		for i := range out {
			out[i] = true
		}
		return out, nil
	}
	prev, err := im.rdb.HMGet(ctx, d.prevKey, ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading diff state: %w", err)
	}
	for i, p := range prev {
		s, ok := p.(string)
		out[i] = !ok || s != sums[i]
	}
	return out, nil
}

// recordDiff stores the batch's row digests in the new generation, except
// for rows the sink rejected (so that they are sent again next time).
func (im *Importer) recordDiff(ctx context.Context, d *diffState, batch []Record, ids, sums []string, rejected []Rejection) error {
	skip := make(map[Rejection]bool, len(rejected))
	for _, r := range rejected {
		skip[Rejection{Line: r.Line, Entry: r.Entry}] = true
	}
	fields := make([]any, 0, 2*len(batch))
	for i, r := range batch {
		if skip[Rejection{Line: r.Line, Entry: r.Entry}] {
			continue
		}
		fields = append(fields, ids[i], sums[i])
	}
	if len(fields) == 0 {
		return nil
	}
	_, err := im.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, d.newKey, fields...)
		p.Expire(ctx, d.newKey, diffBuildTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing diff state: %w", err)
	}
	return nil
}

// promoteDiff makes the new generation current and drops the previous one.
// All keys share the account's hash tag.
func (im *Importer) promoteDiff(ctx context.Context, job Job, d *diffState) error {
	_, err := im.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, diffCurrentKey(im.ns, job.Account, job.ID), d.gen, 0)
		p.Persist(ctx, d.newKey)
		if d.prevKey != "" {
			p.Unlink(ctx, d.prevKey)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("completing diff generation %d of job %q: %w", d.gen, job.ID, err)
	}
	return nil
}

package profiles

import "context"

// Upsert maps records of stream to profiles of account and applies them:
// each record is matched to a profile by its identities (creating one when
// none matches, merging when several do) and its fields are written where
// its event time is at least as new as the stored value's. Records that
// cannot be mapped are rejected with a reason and the rest applied.
//
// Records are applied in order, a batch at a time; preparing the next batch,
// writing one and telling the hook about the one before overlap. Batches are
// applied atomically and idempotently: on error some batches may have been
// applied, and applying the same records again is safe.
func (s *Store) Upsert(ctx context.Context, account, stream string, records []Record) (Result, error) {
	return s.upsert(ctx, account, stream, records, nil, nil)
}

// upsert is Upsert, for bulk (when not nil) with Preread's answers fresh.
func (s *Store) upsert(ctx context.Context, account, stream string, records []Record, bulk *Bulk, fresh []bool) (Result, error) {
	var res Result
	m, err := s.compiledMapping(ctx, account, stream)
	if err != nil {
		return res, err
	}
	if bulk != nil {
		if err := bulk.failure(); err != nil {
			return res, err
		}
		if bulk.mapping != m.fingerprint {
			bulk.mappingChanged.Store(true) // since Preread
		}
		res.Rejected = s.prepareBatches(ctx, m, records, fresh, bulk.writer(ctx))
		res.Applied = bulk.take()
		if err := bulk.failure(); err != nil {
			return res, err
		}
		return res, ctx.Err()
	}
	type outcome struct {
		applied int
		err     error
	}
	batches := make(chan []prepared, 4)
	done := make(chan outcome, 1)
	go func() {
		n, err := s.applyAll(ctx, account, batches, nil)
		done <- outcome{n, err}
	}()
	res.Rejected = s.prepareBatches(ctx, m, records, nil, batches)
	close(batches)
	out := <-done
	res.Applied = out.applied
	if out.err == nil {
		out.err = ctx.Err()
	}
	return res, out.err
}

// prepareBatches maps and types records and sends them to batches in
// batches of at most BatchSize records, maxBatchArguments identities and
// maxBatchBytes of data; fresh holds a Bulk's Preread answers. It returns
// the records it rejected, and stops early when ctx ends.
func (s *Store) prepareBatches(ctx context.Context, m *compiledMapping, records []Record, fresh []bool, batches chan<- []prepared) []Rejection {
	var rej []Rejection
	pr := m.newPreparer(s.opt.Now(), true)
	batch := make([]prepared, 0, min(len(records), s.opt.BatchSize))
	args, size := 0, 0
	for i, r := range records {
		p, err := pr.prepare(r)
		if err != nil {
			rej = append(rej, Rejection{Index: i, Reason: err.Error(), Kind: rejectionKind(err)})
			continue
		}
		p.index = i
		p.fresh = i < len(fresh) && fresh[i]
		batch = append(batch, p)
		args += 3 + len(p.ids)
		size += len(p.data)
		if len(batch) >= s.opt.BatchSize || args >= maxBatchArguments || size >= maxBatchBytes {
			batches <- batch
			batch = make([]prepared, 0, s.opt.BatchSize)
			args, size = 0, 0
		}
		if i%1024 == 0 && ctx.Err() != nil {
			break
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	return rej
}

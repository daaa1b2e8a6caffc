package profiles

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// applier writes the batches of one Upsert, or of a Bulk's writer, in
// order, and hands each one's changes to the hook, which runs behind the
// writes. A batch is either read and resolved while the commit of the one
// before runs (applyRead), or, for a Bulk whose Preread found all its
// records new, resolved without reading and committed up to maxGroup per
// commit on a commitStream (applyFresh, freshcommits.go). A batch whose
// commit lost a race is written on its own (alone).
type applier struct {
	s       *Store
	ctx     context.Context
	account string
	bulk    *Bulk // nil for Upsert
	hook    *hookFeed
	applied int // records written

	// prev is the batch whose commit runs while the next one is resolved.
	prev *pending

	// Batches of new records (see freshcommits.go): flight is the commits
	// in flight, oldest first, each linked to the one before on stream,
	// and queue the batches resolved since, each against the one before.
	// Without a stream (noStream) they are committed one at a time.
	flight   []*flightGroup
	queue    []*pending
	stream   *commitStream
	noStream bool
}

// applyAll writes the batches in order (see applier). After an error the
// remaining batches are drained unwritten. It returns the number of records
// written.
func (s *Store) applyAll(ctx context.Context, account string, batches <-chan []prepared, bulk *Bulk) (int, error) {
	a := &applier{s: s, ctx: ctx, account: account, bulk: bulk, hook: s.startHookFeed(ctx, account)}
	defer a.closeStream()
	var first error
	for b := range batches {
		if first != nil {
			bulk.fail(first) // drained unwritten from now on
			continue
		}
		first = a.apply(b)
	}
	first = a.finish(first)
	return a.applied, first
}

// apply writes one batch, or starts to.
func (a *applier) apply(b []prepared) error {
	fresh := a.bulk.freshBatch(b)
	if fresh {
		if _, err := a.settle(); err != nil {
			return err
		}
		fresh = a.bulk.trusted() // settling may have found another writer
	}
	if fresh {
		queued, err := a.applyFresh(b)
		if queued || err != nil {
			return err
		}
		a.bulk.valid = false // the audience definitions changed
	}
	if err := a.drain(); err != nil {
		return err
	}
	return a.applyRead(b)
}

// applyRead reads and resolves a batch while the commit of the one before
// runs, against what that one writes, then waits for that commit and
// starts the batch's own. When that commit was stale, or the batch read a
// write it did not expect, it is resolved again.
func (a *applier) applyRead(b []prepared) error {
	p, err := a.s.resolve(a.ctx, a.account, b, a.prev)
	chained := a.prev != nil // resolved against prev, so in step with it
	redone, serr := a.settle()
	if serr != nil {
		return serr
	}
	if err == nil && (redone || p.stale) {
		p, err = a.s.resolve(a.ctx, a.account, b, nil)
		chained = false
	}
	if err != nil {
		return a.failed(len(b), err)
	}
	if p.stale {
		return a.alone(b)
	}
	if bulk := a.bulk; bulk != nil && ((!chained && p.pver != bulk.pver) || !slices.Equal(p.checkVals, bulk.hookVals)) {
		bulk.valid = false // another writer came in
	}
	a.prev = p
	go func() { p.done <- a.s.commit(a.ctx, a.account, p) }()
	return nil
}

// settle waits for prev's commit and hands its changes on. redone: the
// commit was stale and prev was written again on its own, so a batch
// resolved against it must be resolved again.
func (a *applier) settle() (redone bool, err error) {
	if a.prev == nil {
		return false, nil
	}
	p := a.prev
	a.prev = nil
	err = <-p.done
	if errors.Is(err, errStaleCommit) {
		return true, a.alone(p.batch)
	}
	if err != nil {
		return false, a.failed(len(p.batch), err)
	}
	a.committed(p)
	return false, nil
}

// alone writes a batch on its own, after a lost race (see applyBatch).
// What a Bulk knew no longer holds: another writer came in.
func (a *applier) alone(b []prepared) error {
	if a.bulk != nil {
		a.bulk.valid = false
	}
	changes, err := a.s.applyBatch(a.ctx, a.account, b)
	if err != nil {
		return err
	}
	a.count(len(b))
	a.hook.send(changes)
	return nil
}

// committed takes note of a batch that applied.
func (a *applier) committed(p *pending) {
	a.count(len(p.batch))
	if a.hook != nil {
		a.hook.send(a.s.batchChanges(a.ctx, a.account, p))
	}
	if a.bulk != nil {
		a.bulk.pver, a.bulk.seq = p.pver+1, p.w.next
	}
}

// count adds n written records.
func (a *applier) count(n int) {
	a.applied += n
	if a.bulk != nil {
		a.bulk.applied.Add(int64(n))
	}
}

func (a *applier) failed(n int, err error) error {
	return fmt.Errorf("applying %d records to profiles of account %q: %w", n, a.account, err)
}

// finish writes what is left after the last batch (first: the error that
// stopped the writes, if any, after which the commits in flight are only
// waited for) and waits for the hook. It returns the first error.
func (a *applier) finish(first error) error {
	if first == nil {
		first = a.drain()
	} else {
		a.abandonFlight()
	}
	if _, err := a.settle(); err != nil && first == nil {
		first = err
	}
	if err := a.hook.close(); first == nil {
		first = err
	}
	return first
}

// hookFeed hands the changes of each written batch to the store's
// ChangeHook on a goroutine of its own, in order; after the hook's first
// error it drops the rest. A nil *hookFeed (no hook) drops everything.
type hookFeed struct {
	changes chan []Change
	done    chan error
}

// startHookFeed starts the feed of the store's hook; nil without one.
func (s *Store) startHookFeed(ctx context.Context, account string) *hookFeed {
	if s.hook == nil {
		return nil
	}
	f := &hookFeed{changes: make(chan []Change, 1), done: make(chan error, 1)}
	go func() {
		var first error
		for changes := range f.changes {
			if first != nil || len(changes) == 0 {
				continue
			}
			if err := s.hook.ProfilesChanged(ctx, account, changes); err != nil {
				first = fmt.Errorf("profiles of account %q stored; change hook: %w", account, err)
			}
		}
		f.done <- first
	}()
	return f
}

func (f *hookFeed) send(changes []Change) {
	if f != nil {
		f.changes <- changes
	}
}

// close waits for the hook to take every change sent and returns its
// first error.
func (f *hookFeed) close() error {
	if f == nil {
		return nil
	}
	close(f.changes)
	return <-f.done
}

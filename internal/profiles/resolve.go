package profiles

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// A batch is written optimistically: its reads (the identity index, the
// profiles it touches, the id counter, the write version) are resolved in Go
// (merge.go) and the result is committed in one MULTI/EXEC that applies only
// if the account's write version ("pver", bumped by every write of profiles
// or of the identity index) is still the one the batch read (commit.go).
// Batches of one Upsert overlap: while one commit runs in Redis, the next
// batch is read and resolved against what Redis held plus the commit in
// flight (see resolve).

// pending is a resolved batch with the commands that commit it.
type pending struct {
	batch []prepared
	w     *batchWriter
	pver  int64    // the write version the commit expects
	cmds  [][]any  // the writes
	check []string // further key, expected value pairs (CreationHook keys)
	// turn is the token of the account's write turn this batch holds ("":
	// none; see turn.go).
	turn string
	// stale: the reads saw a write version that neither this batch's
	// predecessor nor its commit explains; resolve again after it.
	stale bool
	// createdHandled: a CreationHook wrote for the created profiles.
	createdHandled bool
	// checkVals are the CreationHook values the batch was resolved with.
	checkVals []string
	done      chan error
}

// batchReads is what a batch reads before it is resolved.
type batchReads struct {
	w         *batchWriter // holds a slot for every identity of the batch
	hookKeys  []string     // CreationKeys
	pver, seq int64
	index     []any // the profile id of each of w.entries (nil: none)
	hookVals  []string
}

// resolve reads what the batch needs and works out its writes. prev, when
// not nil, is the batch before it whose commit may not have run yet: the
// reads tell (by the write version) whether it has, and if not its writes
// are overlaid on what was read.
func (s *Store) resolve(ctx context.Context, account string, batch []prepared, prev *pending) (*pending, error) {
	r, err := s.readBatch(ctx, account, batch)
	if err != nil {
		return nil, err
	}
	return s.resolveReads(ctx, account, batch, r, prev)
}

// resolveFresh works out the writes of a batch whose identities are all
// new, without reading: pver, seq and the CreationHook values are what the
// account holds once the commits before it have applied (see Bulk).
func (s *Store) resolveFresh(ctx context.Context, account string, batch []prepared, pver, seq int64, hookVals []string) (*pending, error) {
	r := s.batchSlots(account, batch)
	r.pver, r.seq, r.hookVals = pver, seq, hookVals
	r.index = make([]any, len(r.w.entries))
	return s.resolveReads(ctx, account, batch, r, nil)
}

// batchSlots gives every identity of the batch a slot, in first-seen
// order.
func (s *Store) batchSlots(account string, batch []prepared) *batchReads {
	r := &batchReads{}
	if creation, ok := s.hook.(CreationHook); ok {
		r.hookKeys = creation.CreationKeys(account)
	}
	w := &batchWriter{slots: make(map[string]int32, len(batch)*3), entries: make([]indexEntry, 0, len(batch)*3)}
	for _, p := range batch {
		for _, sfx := range p.ids {
			if _, ok := w.slots[sfx]; !ok {
				w.slots[sfx] = int32(len(w.entries))
				w.entries = append(w.entries, indexEntry{sfx: sfx})
			}
		}
	}
	r.w = w
	return r
}

// readBatch reads the write version, the id counter, the identity index
// entries of the batch and the CreationHook keys, in one round trip.
func (s *Store) readBatch(ctx context.Context, account string, batch []prepared) (*batchReads, error) {
	r := s.batchSlots(account, batch)
	pipe := s.rdb.Pipeline()
	verCmd := pipe.Get(ctx, s.keys.pver(account))
	seqCmd := pipe.Get(ctx, s.keys.seq(account))
	suffixes := make([]string, len(r.w.entries))
	for i, e := range r.w.entries {
		suffixes[i] = e.sfx
	}
	index := s.keys.queueIndexGet(ctx, pipe, account, suffixes, nil)
	hookCmds := make([]*redis.StringCmd, len(r.hookKeys))
	for i, k := range r.hookKeys {
		hookCmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading identity index: %w", err)
	}
	r.pver, _ = strconv.ParseInt(verCmd.Val(), 10, 64)
	r.seq, _ = strconv.ParseInt(seqCmd.Val(), 10, 64)
	var err error
	if r.index, err = index(); err != nil {
		return nil, err
	}
	r.hookVals = make([]string, len(hookCmds))
	for i, c := range hookCmds {
		r.hookVals[i] = c.Val()
	}
	return r, nil
}

// resolveReads works out the writes of a batch from its reads (see
// resolve): it takes prev's writes in when prev's commit had not run, loads
// the profiles the batch names, applies the merge rules and adds the
// CreationHook's writes.
func (s *Store) resolveReads(ctx context.Context, account string, batch []prepared, r *batchReads, prev *pending) (*pending, error) {
	out := &pending{batch: batch, pver: r.pver, done: make(chan error, 1)}
	// carry: prev has not been committed when these reads ran.
	var carry *batchWriter
	if prev != nil {
		switch r.pver {
		case prev.pver:
			carry = prev.w
			out.pver = prev.pver + 1
		case prev.pver + 1:
		default:
			out.stale = true
			return out, nil
		}
	}
	states, err := s.namedStates(ctx, account, r, carry)
	if err != nil {
		return nil, err
	}
	seq := r.seq
	if carry != nil {
		seq = max(seq, carry.next)
	}
	w := r.w
	w.states, w.next = states, seq
	out.w = w
	w.apply(batch)
	out.cmds = s.writeCommands(account, w, seq)
	if err := s.addCreationWrites(ctx, account, r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// namedStates points the batch's index entries at the profiles they name
// (what carry writes for them, when carry is not nil) and returns those
// profiles: as carry left them, else as stored.
func (s *Store) namedStates(ctx context.Context, account string, r *batchReads, carry *batchWriter) (map[string]*profileState, error) {
	w := r.w
	var known []string
	var seen map[string]bool
	for i, v := range r.index {
		id, _ := v.(string)
		if carry != nil {
			if cid, dirty := carry.dirtyID(w.entries[i].sfx); dirty {
				id = cid
			}
		}
		if id == "" {
			continue
		}
		w.entries[i].id = id
		if seen == nil {
			seen = make(map[string]bool, len(r.index))
		}
		if !seen[id] {
			seen[id] = true
			known = append(known, id)
		}
	}
	states := make(map[string]*profileState, len(known))
	var toRead []string
	for _, id := range known {
		if carry != nil {
			if st := carry.states[id]; st != nil && st.touched {
				states[id] = st.carried()
				continue
			}
		}
		toRead = append(toRead, id)
	}
	if err := s.loadStates(ctx, account, toRead, states); err != nil {
		return nil, err
	}
	return states, nil
}

// loadStates reads the profiles with the given ids into states.
func (s *Store) loadStates(ctx context.Context, account string, ids []string, states map[string]*profileState) error {
	if len(ids) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, s.keys.profile(account, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading %d profiles: %w", len(ids), err)
	}
	for i, id := range ids {
		st := &profileState{id: id}
		st.num, _ = strconv.ParseInt(id, 10, 64)
		sp, _ := decodeStored(cmds[i].Val())
		st.fs, st.ls, st.base, st.ids, st.raw = sp.fs, sp.ls, sp.base, sp.ids, sp.data
		states[id] = st
	}
	return nil
}

// addCreationWrites adds the CreationHook's writes for the profiles the
// batch creates to out, and the keys its commit checks; out is stale when
// the hook knows older definitions than it read.
func (s *Store) addCreationWrites(ctx context.Context, account string, r *batchReads, out *pending) error {
	creation, ok := s.hook.(CreationHook)
	if !ok {
		return nil
	}
	vals := r.hookVals
	for i, k := range r.hookKeys {
		out.check = append(out.check, k, vals[i])
	}
	out.checkVals = vals
	// The profiles handed to the hook are recycled (it must not keep
	// them): building a few hundred maps per batch took a tenth of the
	// import's allocations.
	scratch := s.createdScratch.Get().(*createdProfiles)
	defer s.createdScratch.Put(scratch)
	created := scratch.ptrs[:0]
	fields := s.hookNeedsFields(ctx, account)
	for _, st := range out.w.order {
		if st.created && !st.gone {
			k := len(created)
			if k == len(scratch.all) {
				scratch.all = append(scratch.all, &Profile{})
			}
			st.fill(scratch.all[k], fields)
			created = append(created, scratch.all[k])
		}
	}
	scratch.ptrs = created
	if len(created) == 0 {
		return nil
	}
	more, err := creation.CreatedWrites(ctx, account, vals, created)
	if errors.Is(err, ErrStale) {
		out.stale = true
		return nil
	}
	if err != nil {
		return err
	}
	out.cmds = append(out.cmds, more...)
	out.createdHandled = true
	return nil
}

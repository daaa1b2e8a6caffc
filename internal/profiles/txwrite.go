package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// txAttempts is how many times a batch is tried optimistically before it
// falls back to the upsert script.
const txAttempts = 3

// profileState is one profile as a batch sees and changes it.
type profileState struct {
	id     string
	num    int64
	fs, ls int64
	ids    []string
	// raw is the stored data JSON until data is decoded; its values
	// without a time have base's (see stored.go).
	raw  string
	base int64
	data map[string]string
	// blob is the stored form of a profile created from one record, valid
	// until the batch changes the profile (see writeCommands).
	blob string
	// created: made by this batch; gone: merged away by it; touched: in
	// batchWriter.order.
	created, gone, touched bool
	// What must be written back.
	idsChanged, seenChanged, dataChanged bool
}

func (p *profileState) decoded() map[string]string {
	if p.data == nil {
		p.data = decodeData(p.raw, p.base)
		p.raw = ""
	}
	return p.data
}

// decodeData decodes a stored data object whose values without a time
// have base's; a malformed or empty one is empty. Every value of the map
// it returns carries its time.
func decodeData(raw string, base int64) map[string]string {
	m := map[string]string{}
	if raw != "" && raw != "{}" && raw != "[]" {
		_ = json.Unmarshal([]byte(raw), &m)
	}
	var prefix string
	for k, v := range m {
		if strings.HasPrefix(v, "|") {
			if prefix == "" {
				prefix = strconv.FormatInt(base, 10)
			}
			m[k] = prefix + v
		}
	}
	return m
}

// storedTime is the event time (ms) a stored value "<ms>|<code><text>" carries.
func storedTime(v string) int64 {
	bar := strings.IndexByte(v, '|')
	if bar < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(v[:bar], 10, 64)
	return n
}

// overlay copies the values of src into dst where they are at least as new
// (strictly newer when strict) and reports whether dst changed.
func overlay(dst, src map[string]string, strict bool) bool {
	changed := false
	for k, v := range src {
		cur, ok := dst[k]
		if !ok {
			dst[k] = v
			changed = true
			continue
		}
		if cur == v {
			continue
		}
		a, b := storedTime(v), storedTime(cur)
		if a > b || (a == b && !strict) {
			dst[k] = v
			changed = true
		}
	}
	return changed
}

// A batch is written optimistically: its reads (the identity index, the
// profiles it touches, the id counter, the write version) are resolved in Go
// and the result is committed in one MULTI/EXEC that applies only if the
// account's write version ("pver", bumped by every write of profiles or of
// the identity index) is still the one the batch read. Batches of one
// Upsert overlap: while one commit runs in Redis, the next batch is read and
// resolved against what Redis held plus the commit in flight (see resolve).

// errStaleCommit: the write version moved under a batch; nothing of it was
// written.
var errStaleCommit = errors.New("profiles changed by a concurrent writer")

// pending is a resolved batch with the commands that commit it.
type pending struct {
	batch []prepared
	w     *batchWriter
	pver  int64    // the write version the commit expects
	cmds  [][]any  // the writes
	check []string // further key, expected value pairs (CreationHook keys)
	// stale: the reads saw a write version that neither this batch's
	// predecessor nor its commit explains; resolve again after it.
	stale bool
	// createdHandled: a CreationHook wrote for the created profiles.
	createdHandled bool
	// checkVals are the CreationHook values the batch was resolved with.
	checkVals []string
	done      chan error
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

// batchReads is what a batch reads before it is resolved.
type batchReads struct {
	w         *batchWriter // holds a slot for every identity of the batch
	hookKeys  []string     // CreationKeys
	pver, seq int64
	index     []any // the profile id of each of w.entries (nil: none)
	hookVals  []string
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

// resolveReads works out the writes of a batch from its reads (see resolve).
func (s *Store) resolveReads(ctx context.Context, account string, batch []prepared, r *batchReads, prev *pending) (*pending, error) {
	creation, _ := s.hook.(CreationHook)
	w, pver, seq := r.w, r.pver, r.seq
	out := &pending{batch: batch, pver: pver, done: make(chan error, 1)}
	// overlay: prev has not been committed when these reads ran.
	var overlay *batchWriter
	if prev != nil {
		switch pver {
		case prev.pver:
			overlay = prev.w
			out.pver = prev.pver + 1
		case prev.pver + 1:
		default:
			out.stale = true
			return out, nil
		}
	}
	var known []string
	var seen map[string]bool
	for i, v := range r.index {
		id, _ := v.(string)
		if overlay != nil {
			if oid, dirty := overlay.dirtyID(w.entries[i].sfx); dirty {
				id = oid
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
		if overlay != nil {
			if st := overlay.states[id]; st != nil && st.touched {
				states[id] = st.carried()
				continue
			}
		}
		toRead = append(toRead, id)
	}
	if err := s.loadStates(ctx, account, toRead, states); err != nil {
		return nil, err
	}
	if overlay != nil {
		seq = max(seq, overlay.next)
	}
	w.states, w.next = states, seq
	out.w = w
	w.apply(batch)
	out.cmds = s.writeCommands(account, w, seq)
	if creation != nil {
		vals := r.hookVals
		for i, k := range r.hookKeys {
			out.check = append(out.check, k, vals[i])
		}
		out.checkVals = vals
		// The profiles handed to the hook are recycled (it must not keep
		// them): building a few hundred maps per batch took a tenth of
		// the import's allocations.
		scratch := s.createdScratch.Get().(*createdProfiles)
		defer s.createdScratch.Put(scratch)
		created := scratch.ptrs[:0]
		fields := s.hookNeedsFields(ctx, account)
		for _, st := range w.order {
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
		if len(created) > 0 {
			more, err := creation.CreatedWrites(ctx, account, vals, created)
			if errors.Is(err, ErrStale) {
				out.stale = true
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out.cmds = append(out.cmds, more...)
			out.createdHandled = true
		}
	}
	return out, nil
}

// commit runs the commands of one batch, or of several resolved one after
// the other (each against the writes of the one before), in one MULTI/EXEC
// if the write version (and every CreationHook key) is still what the
// first was resolved against, and bumps the version once per batch in the
// transaction; errStaleCommit otherwise. It takes one round trip: it
// watches the version and a guard key, guardScript touches the guard when
// a value is not the expected one (a watched key this connection changed
// aborts its own EXEC too), and the transaction follows in the same
// pipeline. A commitStream sends the same commands without waiting.
func (s *Store) commit(ctx context.Context, account string, ps ...*pending) error {
	c := s.commitCommands(account, chainLink{}, ps)
	// A cluster client or a ring needs a key up front to pick the node (it
	// then watches it on its own too, which is harmless).
	var route []string
	if _, plain := s.rdb.(*redis.Client); !plain {
		route = []string{s.keys.pver(account)}
	}
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		pipe := tx.Pipeline()
		pipe.Do(ctx, c.watch...)
		guard := guardScript.Eval(ctx, pipe, c.guardKeys, c.guardArgs...)
		pipe.Do(ctx, "multi")
		queued := make([]*redis.Cmd, len(c.body))
		for i, cmd := range c.body {
			queued[i] = pipe.Do(ctx, cmd...)
		}
		exec := pipe.Do(ctx, "exec")
		_, _ = pipe.Exec(ctx) // each command's outcome is read below
		for i, q := range queued {
			// Redis aborts the EXEC of a transaction with a refused
			// command; a server that runs the rest anyway must not
			// leave the batch half written unnoticed.
			if err := q.Err(); err != nil {
				return fmt.Errorf("queueing %v: %w", c.body[i][0], err)
			}
		}
		replies, err := exec.Slice()
		if errors.Is(err, redis.Nil) {
			return errStaleCommit // aborted: a value was stale or changed
		}
		if err != nil {
			return err
		}
		return commitOutcome(guard.Err(), replies)
	}, route...)
	if err != nil && !errors.Is(err, errStaleCommit) {
		return fmt.Errorf("writing profiles: %w", err)
	}
	return err
}

// commitOutcome is the outcome of a commit that ran, from its guard's
// error and its transaction's replies.
func commitOutcome(guardErr error, replies []any) error {
	if guardErr != nil {
		// The transaction ran without its check: fail the write rather
		// than trust it.
		return fmt.Errorf("checking the write version: %w", guardErr)
	}
	for _, r := range replies {
		if rerr, ok := r.(error); ok {
			return rerr
		}
	}
	return nil
}

// chainLink lets a commitStream send a commit of new records while the one
// before it is still in flight, so that Redis has it at hand when the one
// before ends instead of waiting for the writer. Redis runs the commits of
// one connection in the order sent: the WATCH of a commit comes after the
// EXEC of the one before, and its check sees what that one wrote. It must
// apply only if that one applied: its guard also checks the owner key
// (<prefix>powner) that every linked commit sets to its token. The write
// version alone would not do: after the one before aborted, a foreign
// write can bring the version to the value this one expects. The zero
// chainLink is a plain commit.
type chainLink struct {
	token string // set by this commit when not ""
	after string // the commit that must have applied, when not ""
}

// commitCmds are the commands of one commit.
type commitCmds struct {
	watch     []any // WATCH of the version and the guard
	guardKeys []string
	guardArgs []any
	body      [][]any // between MULTI and EXEC
}

func (s *Store) commitCommands(account string, link chainLink, ps []*pending) commitCmds {
	p := ps[0]
	verKey, guardKey, ownerKey := s.keys.pver(account), s.keys.guard(account), s.keys.owner(account)
	c := commitCmds{
		watch:     []any{"watch", verKey, guardKey},
		guardKeys: make([]string, 0, 3+len(p.check)/2),
		guardArgs: make([]any, 0, 2+len(p.check)/2),
	}
	c.guardKeys = append(c.guardKeys, verKey, guardKey)
	c.guardArgs = append(c.guardArgs, p.pver)
	for i := 0; i+1 < len(p.check); i += 2 {
		c.guardKeys = append(c.guardKeys, p.check[i])
		c.guardArgs = append(c.guardArgs, p.check[i+1])
	}
	if link.after != "" {
		c.guardKeys = append(c.guardKeys, ownerKey)
		c.guardArgs = append(c.guardArgs, link.after)
	}
	for _, p := range ps {
		c.body = append(c.body, p.cmds...)
	}
	if link.token != "" {
		c.body = append(c.body, []any{"set", ownerKey, link.token})
	}
	c.body = append(c.body, []any{"incrby", verKey, len(ps)})
	return c
}

// writeBatchTx resolves and commits one batch on its own. It returns
// errStaleCommit when concurrent writers kept it from committing.
func (s *Store) writeBatchTx(ctx context.Context, account string, batch []prepared) (*pending, error) {
	p, err := s.resolve(ctx, account, batch, nil)
	if err != nil {
		return nil, err
	}
	if p.stale {
		return nil, errStaleCommit
	}
	if err := s.commit(ctx, account, p); err != nil {
		return nil, err
	}
	return p, nil
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

// carried is a copy of a state that the batch before wrote, as the next
// batch starts from it.
func (p *profileState) carried() *profileState {
	c := &profileState{id: p.id, num: p.num, fs: p.fs, ls: p.ls, ids: slices.Clone(p.ids), raw: p.raw, base: p.base}
	if p.data != nil {
		c.data = maps.Clone(p.data)
	}
	return c
}

// batchWriter resolves the records of a batch against the index and the
// profiles read, in memory, and remembers what to write.
type batchWriter struct {
	slots   map[string]int32 // identity suffix -> its entry
	entries []indexEntry
	dirty   []int32 // entries to write, in order
	states  map[string]*profileState
	next    int64 // last id handed out
	merges  []string
	order   []*profileState // profiles touched, in first-touch order
}

// indexEntry is one identity of the index as the batch sees it.
type indexEntry struct {
	sfx   string
	id    string // the profile it names; "" for none
	dirty bool   // to be written
}

// lookup returns the profile the identity suffix names.
func (w *batchWriter) lookup(suffix string) (string, bool) {
	if i, ok := w.slots[suffix]; ok && w.entries[i].id != "" {
		return w.entries[i].id, true
	}
	return "", false
}

// dirtyID returns what the batch writes for the identity suffix, if it
// writes it.
func (w *batchWriter) dirtyID(suffix string) (string, bool) {
	if i, ok := w.slots[suffix]; ok && w.entries[i].dirty {
		return w.entries[i].id, true
	}
	return "", false
}

func (w *batchWriter) point(suffix, id string) {
	i, ok := w.slots[suffix]
	if !ok {
		i = int32(len(w.entries))
		w.slots[suffix] = i
		w.entries = append(w.entries, indexEntry{sfx: suffix})
	}
	e := &w.entries[i]
	if !e.dirty {
		e.dirty = true
		w.dirty = append(w.dirty, i)
	}
	e.id = id
}

func (w *batchWriter) touch(p *profileState) {
	if !p.touched {
		p.touched = true
		w.order = append(w.order, p)
	}
}

// apply resolves every record: the same rules as upsertScript.
func (w *batchWriter) apply(batch []prepared) {
	for _, rec := range batch {
		var target *profileState
		var others []*profileState
		for _, sfx := range rec.ids {
			id, ok := w.lookup(sfx)
			if !ok {
				continue
			}
			p := w.states[id]
			switch {
			case target == nil:
				target = p
			case p == target:
			case p.num < target.num:
				others = append(others, target)
				target = p
			default:
				others = append(others, p)
			}
		}
		if len(others) > 0 {
			slices.SortFunc(others, func(a, b *profileState) int { return int(a.num - b.num) })
			var last *profileState
			for _, l := range others {
				if l != target && l != last {
					w.merge(target, l)
				}
				last = l
			}
		}
		if target == nil {
			w.next++
			target = &profileState{id: strconv.FormatInt(w.next, 10), num: w.next,
				fs: rec.ts, ls: rec.ts, ids: slices.Clone(rec.ids), raw: rec.data, base: rec.ts, blob: rec.blob, created: true}
			w.states[target.id] = target
			for _, sfx := range rec.ids {
				w.point(sfx, target.id)
			}
		} else {
			for _, sfx := range rec.ids {
				if _, ok := w.lookup(sfx); !ok {
					w.point(sfx, target.id)
					target.ids = append(target.ids, sfx)
					target.idsChanged = true
				}
			}
			if rec.ts > target.ls || target.ls == 0 {
				target.ls, target.seenChanged = rec.ts, true
			}
			if rec.ts < target.fs || target.fs == 0 {
				target.fs, target.seenChanged = rec.ts, true
			}
			if rec.data != "{}" && overlay(target.decoded(), decodeData(rec.data, rec.ts), false) {
				target.dataChanged = true
			}
		}
		w.touch(target)
	}
}

// merge folds profile l into s: newest value per field (s on a tie), the
// earliest first seen, the latest last seen, and every identity of l.
func (w *batchWriter) merge(s, l *profileState) {
	if overlay(s.decoded(), l.decoded(), true) {
		s.dataChanged = true
	}
	if l.fs != 0 && (s.fs == 0 || l.fs < s.fs) {
		s.fs, s.seenChanged = l.fs, true
	}
	if l.ls != 0 && (s.ls == 0 || l.ls > s.ls) {
		s.ls, s.seenChanged = l.ls, true
	}
	for _, sfx := range l.ids {
		w.point(sfx, s.id)
	}
	if len(l.ids) > 0 {
		s.ids = append(s.ids, l.ids...)
		s.idsChanged = true
	}
	l.gone = true
	w.touch(s)
	w.merges = append(w.merges, l.id, s.id)
}

// writeCommands returns the writes of w.
func (s *Store) writeCommands(account string, w *batchWriter, seq int64) [][]any {
	var cmds [][]any
	// Every written profile in one MSET (per 500): far less work than a SET
	// each.
	const msetChunk = 500
	mset := []any{"MSET"}
	for _, st := range w.order {
		if st.gone || !(st.created || st.idsChanged || st.seenChanged || st.dataChanged) {
			continue
		}
		var stored string
		switch {
		case st.blob != "" && !st.idsChanged && !st.seenChanged && !st.dataChanged:
			stored = st.blob // as its record built it
		case st.data != nil:
			stored = encodeProfile(st.fs, st.ls, st.ls, st.ids, encodeStored(st.data, st.ls))
		default:
			stored = encodeProfile(st.fs, st.ls, st.base, st.ids, st.raw)
		}
		mset = append(mset, s.keys.profile(account, st.id), stored)
		if len(mset) == 1+2*msetChunk {
			cmds = append(cmds, mset)
			mset = []any{"MSET"}
		}
	}
	if len(mset) > 1 {
		cmds = append(cmds, mset)
	}
	for i := 0; i+1 < len(w.merges); i += 2 {
		l, sv := w.merges[i], w.merges[i+1]
		if !w.states[l].created {
			cmds = append(cmds, []any{"DEL", s.keys.profile(account, l)})
		}
		cmds = append(cmds,
			[]any{"INCR", s.keys.gone(account)},
			[]any{"SET", s.keys.merged(account, l), sv},
			[]any{"XADD", s.keys.merges(account), "MAXLEN", "~", 10000, "*", "loser", l, "survivor", sv})
	}
	if len(w.dirty) > 0 {
		sfx, ids := make([]string, len(w.dirty)), make([]string, len(w.dirty))
		for k, i := range w.dirty {
			sfx[k], ids[k] = w.entries[i].sfx, w.entries[i].id
		}
		cmds = s.keys.appendIndexSet(cmds, account, sfx, ids, 1000)
	}
	if w.next > seq {
		cmds = append(cmds, []any{"SET", s.keys.seq(account), w.next})
	}
	return cmds
}

// profile turns the state into a Profile, with its data fields when
// withFields.
func (p *profileState) profile(withFields bool) *Profile {
	out := &Profile{}
	p.fill(out, withFields)
	return out
}

// fill makes out the profile of the state, reusing its maps.
func (p *profileState) fill(out *Profile, withFields bool) {
	out.ID = p.id
	out.FirstSeen = time.UnixMilli(p.fs).UTC()
	out.LastSeen = time.UnixMilli(p.ls).UTC()
	if out.Identities == nil {
		out.Identities = make(map[string][]string, len(p.ids))
		out.Fields = map[string]any{}
		out.FieldTimes = map[string]time.Time{}
	} else {
		clear(out.Identities)
		clear(out.Fields)
		clear(out.FieldTimes)
	}
	addIdentities(out, p.ids)
	if withFields {
		addFields(out, p.decoded())
	}
}

// createdProfiles are the recycled profiles of CreationHook.CreatedWrites.
type createdProfiles struct {
	all  []*Profile
	ptrs []*Profile
}

// encodeStored encodes a data object for storage, in key order, leaving
// out the times that are base's (see stored.go).
func encodeStored(m map[string]string, base int64) string {
	prefix := strconv.FormatInt(base, 10) + "|"
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONKey(b, k)
		v := m[k]
		if base != 0 && strings.HasPrefix(v, prefix) {
			v = v[len(prefix)-1:]
		}
		b = appendJSONString(b, v)
		b = append(b, '"')
	}
	return string(append(b, '}'))
}

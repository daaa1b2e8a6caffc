package profiles

import (
	"maps"
	"slices"
	"strconv"
)

// The merge rules, in one place: every write of profiles (Store.Upsert, a
// Bulk, the collect endpoint through internal/ingest) resolves its records
// with batchWriter.apply, whatever path then commits the result.
//
//   - A record goes to the profile its identities name. When they name
//     none, it creates a profile (the account's next id); when they name
//     several, those merge into the oldest (smallest id) first.
//   - A record's fields are written where its event time is at least as
//     new as the stored value's: the newest event wins per field, and of
//     two records with the same event time the later one.
//   - A merge keeps, per field, the value with the newest event time, the
//     survivor's on a tie; the earliest first seen, the latest last seen;
//     and the identities of both (the survivor's first). The loser's
//     identities then name the survivor.
//   - A record's identities that no profile holds yet are added to its
//     profile, in the record's order.

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

// decoded returns the profile's data fields, each value with its time.
func (p *profileState) decoded() map[string]string {
	if p.data == nil {
		p.data = decodeData(p.raw, p.base)
		p.raw = ""
	}
	return p.data
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

// point makes the identity suffix name profile id.
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

// touch lists p among the profiles the batch writes.
func (w *batchWriter) touch(p *profileState) {
	if !p.touched {
		p.touched = true
		w.order = append(w.order, p)
	}
}

// apply resolves every record of the batch, in order.
func (w *batchWriter) apply(batch []prepared) {
	for i := range batch {
		rec := &batch[i]
		target := w.mergeNamed(rec)
		if target == nil {
			target = w.create(rec)
		} else {
			w.update(target, rec)
		}
		w.touch(target)
	}
}

// mergeNamed merges the profiles the record's identities name into the
// oldest of them and returns it; nil when they name none.
func (w *batchWriter) mergeNamed(rec *prepared) *profileState {
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
	if len(others) == 0 {
		return target
	}
	slices.SortFunc(others, func(a, b *profileState) int { return int(a.num - b.num) })
	var last *profileState
	for _, l := range others {
		if l != target && l != last {
			w.merge(target, l)
		}
		last = l
	}
	return target
}

// create makes the profile of a record whose identities name none: its
// fields as they come, stored as the record built them (blob).
func (w *batchWriter) create(rec *prepared) *profileState {
	w.next++
	p := &profileState{id: strconv.FormatInt(w.next, 10), num: w.next,
		fs: rec.ts, ls: rec.ts, ids: slices.Clone(rec.ids), raw: rec.data, base: rec.ts, blob: rec.blob, created: true}
	w.states[p.id] = p
	for _, sfx := range rec.ids {
		w.point(sfx, p.id)
	}
	return p
}

// update writes a record into its profile: the identities it lacks, first
// and last seen, and every field where the record is at least as new.
func (w *batchWriter) update(p *profileState, rec *prepared) {
	for _, sfx := range rec.ids {
		if _, ok := w.lookup(sfx); !ok {
			w.point(sfx, p.id)
			p.ids = append(p.ids, sfx)
			p.idsChanged = true
		}
	}
	if rec.ts > p.ls || p.ls == 0 {
		p.ls, p.seenChanged = rec.ts, true
	}
	if rec.ts < p.fs || p.fs == 0 {
		p.fs, p.seenChanged = rec.ts, true
	}
	if rec.data != "{}" && overlay(p.decoded(), decodeData(rec.data, rec.ts), false) {
		p.dataChanged = true
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

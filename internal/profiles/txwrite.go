package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// txAttempts is how many times a batch is tried as an optimistic transaction
// before it falls back to the upsert script.
const txAttempts = 3

// errTxConflict: a watched key changed before EXEC.
var errTxConflict = errors.New("profiles changed by a concurrent writer")

// profileState is one profile as a batch sees and changes it.
type profileState struct {
	id     string
	num    int64
	fs, ls int64
	ids    []string
	// raw is the stored data JSON until data is decoded.
	raw  string
	data map[string]string
	// created: made by this batch; gone: merged away by it; touched: in
	// batchWriter.order.
	created, gone, touched bool
	// What must be written back.
	idsChanged, seenChanged, dataChanged bool
}

func (p *profileState) decoded() map[string]string {
	if p.data == nil {
		p.data = decodeData(p.raw)
		p.raw = ""
	}
	return p.data
}

// decodeData decodes a stored data object; a malformed or empty one is empty.
func decodeData(raw string) map[string]string {
	m := map[string]string{}
	if raw != "" && raw != "{}" && raw != "[]" {
		_ = json.Unmarshal([]byte(raw), &m)
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

// txBatch is the outcome of one batch written as a transaction.
type txBatch struct {
	merges []string        // loser, survivor, ... in order
	order  []*profileState // profiles touched, in first-touch order
	// createdHandled: a CreationHook took the created profiles.
	createdHandled bool
}

// writeBatchTx applies a batch the way upsertScript does, with identity
// resolution and newest-wins in Go, and writes the result in one MULTI/EXEC
// guarded by WATCH on the identity index, the id counter and every profile
// read. It returns errTxConflict when a concurrent writer got there first;
// nothing is written then.
func (s *Store) writeBatchTx(ctx context.Context, account string, batch []prepared) (*txBatch, error) {
	idsKey, seqKey := s.keys.ids(account), s.keys.seq(account)
	creation, _ := s.hook.(CreationHook)
	var hookKeys []string
	if creation != nil {
		hookKeys = creation.CreationKeys(account)
	}
	var out *txBatch
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		suffixes := make([]string, 0, len(batch)*3)
		seen := make(map[string]bool, len(batch)*3)
		for _, p := range batch {
			for _, sfx := range p.ids {
				if !seen[sfx] {
					seen[sfx] = true
					suffixes = append(suffixes, sfx)
				}
			}
		}
		// WATCH and the first reads in one round trip.
		pipe := tx.Pipeline()
		watch := append([]any{"watch", idsKey, seqKey}, anySlice(hookKeys)...)
		pipe.Do(ctx, watch...)
		seqCmd := pipe.Get(ctx, seqKey)
		idxCmd := pipe.HMGet(ctx, idsKey, suffixes...)
		hookCmds := make([]*redis.StringCmd, len(hookKeys))
		for i, k := range hookKeys {
			hookCmds[i] = pipe.Get(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("reading identity index: %w", err)
		}
		seq, _ := strconv.ParseInt(seqCmd.Val(), 10, 64)
		index := make(map[string]string, len(suffixes))
		var known []string
		for i, v := range idxCmd.Val() {
			if id, ok := v.(string); ok {
				index[suffixes[i]] = id
				if !seen[id] { // ids are digits, suffixes hold a colon
					seen[id] = true
					known = append(known, id)
				}
			}
		}
		states, err := s.loadStates(ctx, tx, account, known)
		if err != nil {
			return err
		}
		w := &batchWriter{index: index, dirtySet: map[string]bool{}, states: states, next: seq}
		res := w.apply(batch)
		if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.queueWrites(ctx, p, account, w, seq)
			if creation == nil {
				return nil
			}
			vals := make([]string, len(hookCmds))
			for i, c := range hookCmds {
				vals[i] = c.Val()
			}
			var created []*Profile
			fields := s.hookNeedsFields(ctx, account)
			for _, st := range res.order {
				if st.created && !st.gone {
					created = append(created, st.profile(fields))
				}
			}
			if len(created) == 0 {
				return nil
			}
			res.createdHandled = true
			return creation.QueueCreated(ctx, p, account, vals, created)
		}); err != nil {
			if errors.Is(err, redis.TxFailedErr) || errors.Is(err, ErrStale) {
				return errTxConflict
			}
			return fmt.Errorf("writing profiles: %w", err)
		}
		out = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadStates watches and reads the profiles with the given ids.
func (s *Store) loadStates(ctx context.Context, tx *redis.Tx, account string, ids []string) (map[string]*profileState, error) {
	states := make(map[string]*profileState, len(ids))
	if len(ids) == 0 {
		return states, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.keys.profile(account, id)
	}
	if err := tx.Watch(ctx, keys...).Err(); err != nil {
		return nil, fmt.Errorf("watching %d profiles: %w", len(ids), err)
	}
	pipe := tx.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading %d profiles: %w", len(ids), err)
	}
	for i, id := range ids {
		st := &profileState{id: id}
		st.num, _ = strconv.ParseInt(id, 10, 64)
		st.fs, st.ls, st.ids, st.raw, _ = decodeStored(cmds[i].Val())
		states[id] = st
	}
	return states, nil
}

// batchWriter resolves the records of a batch against the index and the
// profiles read, in memory, and remembers what to write.
type batchWriter struct {
	index    map[string]string
	dirty    []string // index entries to write, in order
	dirtySet map[string]bool
	states   map[string]*profileState
	next     int64 // last id handed out
	merges   []string
	order    []*profileState // profiles touched, in first-touch order
}

func (w *batchWriter) point(suffix, id string) {
	if !w.dirtySet[suffix] {
		w.dirtySet[suffix] = true
		w.dirty = append(w.dirty, suffix)
	}
	w.index[suffix] = id
}

func (w *batchWriter) touch(p *profileState) {
	if !p.touched {
		p.touched = true
		w.order = append(w.order, p)
	}
}

// apply resolves every record: the same rules as upsertScript.
func (w *batchWriter) apply(batch []prepared) *txBatch {
	for _, rec := range batch {
		var target *profileState
		var others []*profileState
		for _, sfx := range rec.ids {
			id, ok := w.index[sfx]
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
				fs: rec.ts, ls: rec.ts, ids: slices.Clone(rec.ids), raw: rec.data, created: true}
			w.states[target.id] = target
			for _, sfx := range rec.ids {
				w.point(sfx, target.id)
			}
		} else {
			for _, sfx := range rec.ids {
				if _, ok := w.index[sfx]; !ok {
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
			if rec.data != "{}" && overlay(target.decoded(), decodeData(rec.data), false) {
				target.dataChanged = true
			}
		}
		w.touch(target)
	}
	return &txBatch{merges: w.merges, order: w.order}
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

// queueWrites queues the writes of w on p (inside MULTI).
func (s *Store) queueWrites(ctx context.Context, p redis.Pipeliner, account string, w *batchWriter, seq int64) {
	// Every written profile in one MSET (per 500): far less work, on both
	// sides, than a SET each.
	const msetChunk = 500
	pairs := make([]any, 0, 2*min(len(w.order), msetChunk))
	for _, st := range w.order {
		if st.gone || !(st.created || st.idsChanged || st.seenChanged || st.dataChanged) {
			continue
		}
		data := st.raw
		if st.data != nil {
			data = encodeStored(st.data)
		}
		pairs = append(pairs, s.keys.profile(account, st.id), encodeProfile(st.fs, st.ls, st.ids, data))
		if len(pairs) == 2*msetChunk {
			p.MSet(ctx, pairs...)
			pairs = make([]any, 0, 2*msetChunk)
		}
	}
	if len(pairs) > 0 {
		p.MSet(ctx, pairs...)
	}
	for i := 0; i+1 < len(w.merges); i += 2 {
		l, sv := w.merges[i], w.merges[i+1]
		if !w.states[l].created {
			p.Del(ctx, s.keys.profile(account, l))
		}
		p.Incr(ctx, s.keys.gone(account))
		p.Set(ctx, s.keys.merged(account, l), sv, 0)
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.merges(account), MaxLen: 10000, Approx: true,
			Values: []string{"loser", l, "survivor", sv}})
	}
	const chunk = 1000
	for c := 0; c < len(w.dirty); c += chunk {
		part := w.dirty[c:min(c+chunk, len(w.dirty))]
		hs := make([]any, 0, 2*len(part))
		for _, sfx := range part {
			hs = append(hs, sfx, w.index[sfx])
		}
		p.HSet(ctx, s.keys.ids(account), hs...)
	}
	if w.next > seq {
		p.Set(ctx, s.keys.seq(account), w.next, 0)
	}
}

// profile turns the state into a Profile, with its data fields when
// withFields.
func (p *profileState) profile(withFields bool) *Profile {
	out := &Profile{
		ID:         p.id,
		Fields:     map[string]any{},
		FieldTimes: map[string]time.Time{},
		Identities: map[string][]string{},
		FirstSeen:  time.UnixMilli(p.fs).UTC(),
		LastSeen:   time.UnixMilli(p.ls).UTC(),
	}
	addIdentities(out, p.ids)
	if withFields {
		addFields(out, p.decoded())
	}
	return out
}

// encodeStored encodes a data object for storage.
func encodeStored(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

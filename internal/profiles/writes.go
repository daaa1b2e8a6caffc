package profiles

// msetChunk bounds the profiles of one MSET.
const msetChunk = 500

// writeCommands returns the writes of a resolved batch: its profiles, the
// merges, the identity index entries and the id counter (seq is the value
// it was resolved against).
func (s *Store) writeCommands(account string, w *batchWriter, seq int64) [][]any {
	cmds := s.profileWrites(nil, account, w)
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

// profileWrites appends the MSETs of every profile the batch created or
// changed (and did not merge away) to cmds: one MSET per msetChunk profiles
// is far less work for Redis than a SET each.
func (s *Store) profileWrites(cmds [][]any, account string, w *batchWriter) [][]any {
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
	return cmds
}

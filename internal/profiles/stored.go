package profiles

import (
	"strconv"
	"strings"
)

// A profile is stored as one Redis string (one SET to create it, one GET to
// read it, and far cheaper for Redis than a hash whose data field is too
// long for the compact encoding):
//
//	"<first seen ms> <last seen ms>[ <base ms>]\n<identity>\n...<identity>\n\n<data>"
//
// identities are index suffixes "<field>:<value>" (which hold no line
// break); data is the JSON object of stored values "<ms>|<code><text>" (one
// line). A value whose time is the base leaves it out: "|<code><text>".
// Most profiles have every field from one event (an imported row), so the
// base saves 13 bytes a field, which Redis receives, parses and keeps: a
// Braze export row takes 609 bytes instead of 829. Forms without a base
// (every time written out) are those of earlier builds and of the upsert
// script's rewrites. With no identity it is "<fs> <ls>[ <base>]\n\n<data>".
// The upsert and delete scripts read and write the same form.

// encodeProfile writes the stored form; base 0 means none.
func encodeProfile(fs, ls, base int64, ids []string, data string) string {
	n := 64 + len(data)
	for _, id := range ids {
		n += len(id) + 1
	}
	return string(append(appendProfileHead(make([]byte, 0, n), fs, ls, base, ids), data...))
}

// appendProfileHead appends the stored form up to its data to b; base 0
// means none.
func appendProfileHead(b []byte, fs, ls, base int64, ids []string) []byte {
	b = strconv.AppendInt(b, fs, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ls, 10)
	if base != 0 {
		b = append(b, ' ')
		b = strconv.AppendInt(b, base, 10)
	}
	b = append(b, '\n')
	for _, id := range ids {
		b = append(b, id...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// storedProfile is a stored form split (see decodeStored).
type storedProfile struct {
	fs, ls, base int64 // base 0: none
	ids          []string
	data         string // values relative to base (see decodeData)
}

// decodeStored splits the stored form; ok is false when v is not one.
func decodeStored(v string) (sp storedProfile, ok bool) {
	head, rest, found := strings.Cut(v, "\n")
	if !found {
		return sp, false
	}
	f, l, found := strings.Cut(head, " ")
	if !found {
		return sp, false
	}
	l, b, _ := strings.Cut(l, " ")
	sp.fs, _ = strconv.ParseInt(f, 10, 64)
	sp.ls, _ = strconv.ParseInt(l, 10, 64)
	sp.base, _ = strconv.ParseInt(b, 10, 64)
	if strings.HasPrefix(rest, "\n") {
		sp.data = rest[1:]
		return sp, true
	}
	list, data, found := strings.Cut(rest, "\n\n")
	if !found {
		return storedProfile{}, false
	}
	sp.ids, sp.data = strings.Split(list, "\n"), data
	return sp, true
}

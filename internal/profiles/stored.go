package profiles

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
// (every time written out) are those of earlier builds, which are read as
// they are. With no identity it is "<fs> <ls>[ <base>]\n\n<data>". The
// delete script reads the same form.

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

// storedTime is the event time (ms) a stored value "<ms>|<code><text>" carries.
func storedTime(v string) int64 {
	bar := strings.IndexByte(v, '|')
	if bar < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(v[:bar], 10, 64)
	return n
}

// decodeData decodes a stored data object whose values without a time
// have base's; a malformed or empty one is empty. Every value of the map
// it returns carries its time.
func decodeData(raw string, base int64) map[string]string {
	m, ok := decodeFlat(raw)
	if !ok {
		m = map[string]string{}
		if raw != "" && raw != "{}" && raw != "[]" {
			_ = json.Unmarshal([]byte(raw), &m)
		}
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

// decodeFlat decodes a data object as encodeStored writes it, compact and
// with strings that need no unescaping, without encoding/json (which took a
// fifth of an export worker's CPU); ok is false for any other form, which
// json.Unmarshal decodes instead. Both give the same map.
func decodeFlat(raw string) (m map[string]string, ok bool) {
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return nil, false
	}
	m = make(map[string]string, strings.Count(raw, `":"`))
	if raw == "{}" {
		return m, true
	}
	for i := 1; ; i++ {
		k, next, ok := flatString(raw, i)
		if !ok || next >= len(raw) || raw[next] != ':' {
			return nil, false
		}
		v, next, ok := flatString(raw, next+1)
		if !ok || next >= len(raw) {
			return nil, false
		}
		m[k] = v
		switch {
		case raw[next] == '}' && next == len(raw)-1:
			return m, true
		case raw[next] != ',':
			return nil, false
		}
		i = next
	}
}

// flatString reads the JSON string at s[i:] if it needs no unescaping and
// is valid UTF-8 without control characters, and returns it and the index
// after its closing quote.
func flatString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	j := strings.IndexByte(s[i+1:], '"')
	if j < 0 {
		return "", 0, false
	}
	v := s[i+1 : i+1+j]
	for k := 0; k < len(v); k++ {
		if c := v[k]; c == '\\' || c < 0x20 {
			return "", 0, false
		}
	}
	if !utf8.ValidString(v) {
		return "", 0, false
	}
	return v, i + 2 + j, true
}

// encodeStored encodes a data object for storage, in key order, leaving
// out the times that are base's.
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

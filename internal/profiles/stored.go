package profiles

import (
	"strconv"
	"strings"
)

// A profile is stored as one Redis string (one SET to create it, one GET to
// read it, and far cheaper for Redis than a hash whose data field is too
// long for the compact encoding):
//
//	"<first seen ms> <last seen ms>\n<identity>\n...<identity>\n\n<data>"
//
// identities are index suffixes "<field>:<value>" (which hold no line
// break); data is the JSON object of stored values "<ms>|<code><text>" (one
// line). With no identity it is "<fs> <ls>\n\n<data>". The upsert and delete
// scripts read and write the same form.

// encodeProfile writes the stored form.
func encodeProfile(fs, ls int64, ids []string, data string) string {
	n := 44 + len(data)
	for _, id := range ids {
		n += len(id) + 1
	}
	return string(append(appendProfileHead(make([]byte, 0, n), fs, ls, ids), data...))
}

// appendProfileHead appends the stored form up to its data to b.
func appendProfileHead(b []byte, fs, ls int64, ids []string) []byte {
	b = strconv.AppendInt(b, fs, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ls, 10)
	b = append(b, '\n')
	for _, id := range ids {
		b = append(b, id...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// decodeStored splits the stored form; ok is false when v is not one.
func decodeStored(v string) (fs, ls int64, ids []string, data string, ok bool) {
	head, rest, found := strings.Cut(v, "\n")
	if !found {
		return 0, 0, nil, "", false
	}
	f, l, found := strings.Cut(head, " ")
	if !found {
		return 0, 0, nil, "", false
	}
	fs, _ = strconv.ParseInt(f, 10, 64)
	ls, _ = strconv.ParseInt(l, 10, 64)
	if strings.HasPrefix(rest, "\n") {
		return fs, ls, nil, rest[1:], true
	}
	list, data, found := strings.Cut(rest, "\n\n")
	if !found {
		return 0, 0, nil, "", false
	}
	return fs, ls, strings.Split(list, "\n"), data, true
}

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
	var b strings.Builder
	n := 44 + len(data)
	for _, id := range ids {
		n += len(id) + 1
	}
	b.Grow(n)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], fs, 10))
	b.WriteByte(' ')
	b.Write(strconv.AppendInt(num[:0], ls, 10))
	b.WriteByte('\n')
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(data)
	return b.String()
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

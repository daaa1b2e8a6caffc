package profiles

import (
	"unicode/utf8"
)

// storedField is one typed field of a record on its way to storage.
type storedField struct {
	name string
	code byte
	text string
	// key is the field's JSON key as appendData writes it (`"name":"`),
	// worked out once per CSV column; empty: written from name.
	key string
}

// appendData appends fields to b as a JSON object of stored values
// "|<code><text>" whose time is the base (the record's event time), the
// form in which a profile's fields are stored (see stored.go).
func appendData(b []byte, fields []storedField) []byte {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		if f.key != "" {
			b = append(b, f.key...)
		} else {
			b = appendJSONKey(b, f.name)
		}
		b = append(b, '|', f.code)
		b = appendJSONString(b, f.text)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendJSONKey appends `"name":"`, the start of a member whose value is a
// string.
func appendJSONKey(b []byte, name string) []byte {
	b = append(b, '"')
	b = appendJSONString(b, name)
	return append(b, '"', ':', '"')
}

// jsonSafe holds the bytes a JSON string takes as they are: printable ASCII
// but for the quote and the backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s escaped for a JSON string (without quotes);
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	start, i := 0, 0
	for i < len(s) {
		for i < len(s) && jsonSafe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(b, s[start:]...)
}

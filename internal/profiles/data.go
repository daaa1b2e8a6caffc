package profiles

import (
	"strings"
	"unicode/utf8"
)

// encodeData writes a name/value list as a JSON object of strings, the form
// in which a profile's fields are stored ("d" in the profile hash) and read by
// the upsert script's cjson. It is a small, allocation-light encoder: every
// key and value is a string.
func encodeData(kv []string) string {
	n := 2
	for _, s := range kv {
		n += len(s) + 4
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, kv[i])
		b.WriteByte(':')
		writeJSONString(&b, kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

const hexDigits = "0123456789abcdef"

// writeJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString("\ufffd")
			i++
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

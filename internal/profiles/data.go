package profiles

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// storedField is one typed field of a record on its way to storage.
type storedField struct {
	name string
	code byte
	text string
}

// encodeData writes fields as a JSON object of stored values
// "<ts>|<code><text>", the form in which a profile's fields are stored ("d"
// in the profile hash) and read by the upsert script's cjson. It makes one
// allocation.
func encodeData(ts int64, fields []storedField) string {
	var num [20]byte
	prefix := strconv.AppendInt(num[:0], ts, 10)
	n := 2
	for _, f := range fields {
		n += len(f.name) + len(prefix) + len(f.text) + 8
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, f.name, true)
		b.WriteString(`:"`)
		b.Write(prefix)
		b.WriteByte('|')
		b.WriteByte(f.code)
		writeJSONString(&b, f.text, false)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

const hexDigits = "0123456789abcdef"

// writeJSONString writes s as a JSON string (only its escaped content
// unless quote); invalid UTF-8 becomes U+FFFD.
func writeJSONString(b *strings.Builder, s string, quote bool) {
	if quote {
		b.WriteByte('"')
	}
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
	if quote {
		b.WriteByte('"')
	}
}

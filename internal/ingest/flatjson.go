package ingest

import (
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/brazesync/brazesync/internal/profiles"
)

// parseFlat reads the common shape of a collect body quickly: objects whose
// values are strings without escapes, numbers, booleans or null, alone, in
// arrays, or one after another (newline-delimited). It gives exactly what
// parseJSON gives for such a body (the values as json.Number, string, bool
// or nil; the last of duplicate keys), and ok false for anything else —
// nested values, escapes, invalid UTF-8, top-level scalars, malformed
// input — which parseJSON then reads from the start.
//
// Every key and value is a substring of one copy of the body.
func parseFlat(body []byte) (items []Item, ok bool) {
	p := newFlatParser(string(body))
	defer p.free()
	ok = p.objects(func() { items = append(items, Item{Fields: p.anyMap()}) })
	return items, ok
}

// flatRecords is parseFlat of a body held as a string, giving each object
// as a profiles.Record:
// as Strings when all its values are strings (no value is boxed in an
// interface, which is what Braze sends), else as Fields.
func flatRecords(body string) (recs []profiles.Record, ok bool) {
	p := newFlatParser(body)
	defer p.free()
	ok = p.objects(func() {
		if p.allStrings {
			m := make(map[string]string, len(p.pairs))
			for _, kv := range p.pairs {
				m[kv.key] = kv.str // the last of duplicate keys wins
			}
			recs = append(recs, profiles.Record{Strings: m})
			return
		}
		recs = append(recs, profiles.Record{Fields: p.anyMap()})
	})
	return recs, ok
}

// objects reads the body's objects, calling each with every object's pairs
// in p.pairs, and reports whether the body has the flat shape.
func (p *flatParser) objects(each func()) bool {
	for {
		p.space()
		if p.i == len(p.s) {
			return true
		}
		switch p.s[p.i] {
		case '{':
			if !p.object() {
				return false
			}
			each()
		case '[':
			p.i++
			p.space()
			if p.next(']') {
				continue
			}
			for {
				p.space()
				if p.i == len(p.s) || p.s[p.i] != '{' || !p.object() {
					return false
				}
				each()
				p.space()
				if p.next(']') {
					break
				}
				if !p.next(',') {
					return false
				}
			}
		default:
			return false
		}
	}
}

type flatParser struct {
	s string
	i int
	// pairs holds an object's keys and values until its map is made with
	// the right size (a map sized for more costs twice the memory);
	// allStrings tells whether every value is a string.
	pairs      []flatPair
	allStrings bool
}

// flatParsers keeps parsers with their pairs buffer between requests: an
// object's pairs cost a request five growing allocations otherwise (a
// fifth of all the collect path allocated).
var flatParsers = sync.Pool{New: func() any { return &flatParser{pairs: make([]flatPair, 0, 32)} }}

// newFlatParser returns a parser of s; free gives it back.
func newFlatParser(s string) *flatParser {
	p := flatParsers.Get().(*flatParser)
	p.s, p.i = s, 0
	return p
}

// maxPooledPairs bounds the buffer a pooled parser keeps: one that grew
// past it for a wide object is left to the collector, so that clearing it
// does not cost every later request.
const maxPooledPairs = 256

// free drops the parser's references to the body and keeps it for reuse.
func (p *flatParser) free() {
	if cap(p.pairs) > maxPooledPairs {
		return
	}
	clear(p.pairs[:cap(p.pairs)])
	p.s, p.pairs = "", p.pairs[:0]
	flatParsers.Put(p)
}

// flatPair is a key and its value: str when isStr, else val.
type flatPair struct {
	key   string
	str   string
	val   any
	isStr bool
}

// anyMap makes the map of the object in p.pairs.
func (p *flatParser) anyMap() map[string]any {
	m := make(map[string]any, len(p.pairs))
	for _, kv := range p.pairs {
		if kv.isStr {
			m[kv.key] = kv.str // the last of duplicate keys wins
		} else {
			m[kv.key] = kv.val
		}
	}
	return m
}

func (p *flatParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next consumes c if it is the next byte.
func (p *flatParser) next(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"k": v, ...} at p.i into p.pairs.
func (p *flatParser) object() bool {
	p.i++ // '{'
	p.pairs, p.allStrings = p.pairs[:0], true
	p.space()
	if p.next('}') {
		return true
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if !p.next(':') {
			return false
		}
		p.space()
		kv := flatPair{key: key}
		if p.i < len(p.s) && p.s[p.i] == '"' {
			kv.str, ok = p.str()
			kv.isStr = true
		} else {
			kv.val, ok = p.value()
			p.allStrings = false
		}
		if !ok {
			return false
		}
		p.pairs = append(p.pairs, kv)
		p.space()
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// value reads a number, true, false or null (object reads strings).
func (p *flatParser) value() (any, bool) {
	if p.i == len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("true"):
		return true, true
	case p.literal("false"):
		return false, true
	case p.literal("null"):
		return nil, true
	}
	return nil, false
}

func (p *flatParser) literal(word string) bool {
	if len(p.s)-p.i >= len(word) && p.s[p.i:p.i+len(word)] == word {
		p.i += len(word)
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *flatParser) str() (string, bool) {
	if !p.next('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *flatParser) number() (json.Number, bool) {
	start := p.i
	p.next('-')
	switch {
	case p.next('0'):
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", false
	}
	if p.next('.') && !p.digits() {
		return "", false
	}
	if p.next('e') || p.next('E') {
		if !p.next('+') {
			p.next('-')
		}
		if !p.digits() {
			return "", false
		}
	}
	return json.Number(p.s[start:p.i]), true
}

// digits consumes [0-9]* and reports whether there was one.
func (p *flatParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

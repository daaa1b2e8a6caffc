package ingest

import (
	"encoding/json"
	"unicode/utf8"
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
	return parseFlatString(string(body))
}

// parseFlatString is parseFlat of a body held as a string.
func parseFlatString(body string) (items []Item, ok bool) {
	p := flatParser{s: body}
	for {
		p.space()
		if p.i == len(p.s) {
			return items, true
		}
		switch p.s[p.i] {
		case '{':
			obj, ok := p.object()
			if !ok {
				return nil, false
			}
			items = append(items, Item{Fields: obj})
		case '[':
			p.i++
			p.space()
			if p.next(']') {
				continue
			}
			for {
				p.space()
				if p.i == len(p.s) || p.s[p.i] != '{' {
					return nil, false
				}
				obj, ok := p.object()
				if !ok {
					return nil, false
				}
				items = append(items, Item{Fields: obj})
				p.space()
				if p.next(']') {
					break
				}
				if !p.next(',') {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
}

type flatParser struct {
	s string
	i int
	// pairs holds an object's keys and values until its map is made with
	// the right size (a map sized for more costs twice the memory).
	pairs []flatPair
}

type flatPair struct {
	key string
	val any
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

// object reads {"k": v, ...} at p.i.
func (p *flatParser) object() (map[string]any, bool) {
	p.i++ // '{'
	p.pairs = p.pairs[:0]
	p.space()
	if p.next('}') {
		return map[string]any{}, true
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.next(':') {
			return nil, false
		}
		p.space()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		p.pairs = append(p.pairs, flatPair{key, v})
		p.space()
		if p.next('}') {
			obj := make(map[string]any, len(p.pairs))
			for _, kv := range p.pairs {
				obj[kv.key] = kv.val // the last of duplicate keys wins
			}
			return obj, true
		}
		if !p.next(',') {
			return nil, false
		}
	}
}

func (p *flatParser) value() (any, bool) {
	if p.i == len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
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

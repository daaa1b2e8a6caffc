// Package textcheck checks the free text people give things: labels and
// names (one line) and descriptions (a few lines). Free text is shown in
// logs, terminals and web pages, so it must be valid UTF-8 without control
// characters, and bounded.
package textcheck

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits in bytes.
const (
	MaxLabel       = 256
	MaxDescription = 4096
)

// Label checks a label or a name: at most MaxLabel bytes of valid UTF-8
// without control characters (C0, DEL, C1: NUL, newlines, escapes). It
// returns a message for the field ("" when s is fine).
func Label(s string) string {
	return check(s, MaxLabel, false)
}

// Description checks a description: at most MaxDescription bytes of valid
// UTF-8 without control characters other than tab, line feed and carriage
// return. It returns a message for the field ("" when s is fine).
func Description(s string) string {
	return check(s, MaxDescription, true)
}

func check(s string, maxBytes int, lines bool) string {
	if len(s) > maxBytes {
		return fmt.Sprintf("is %d bytes long; at most %d", len(s), maxBytes)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for i, r := range s {
		if lines && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			allowed := ""
			if lines {
				allowed = " (tab and line breaks are)"
			}
			return fmt.Sprintf("holds the control character %U at byte %d; control characters are not allowed%s", r, i, allowed)
		}
	}
	return ""
}

package textcheck

import (
	"strings"
	"testing"
)

func TestLabelAndDescription(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s           string
		label, desc bool // accepted as label, as description
	}{
		{"Weekly export", true, true},
		{"Export für Kunden ✓", true, true},
		{"", true, true},
		{strings.Repeat("a", MaxLabel), true, true},
		{strings.Repeat("a", MaxLabel+1), false, true},
		{strings.Repeat("é", MaxLabel/2) + "a", false, true}, // 257 bytes
		{strings.Repeat("a", MaxDescription), false, true},
		{strings.Repeat("a", MaxDescription+1), false, false},
		{"nul\x00byte", false, false},
		{"line\nbreak", false, true},
		{"tab\there", false, true},
		{"cr\r\n", false, true},
		{"escape \x1b[31mred", false, false},
		{"del\x7f", false, false},
		{"c1 \u0085 next line", false, false},
		{"bad \xff utf-8", false, false},
	}
	for _, c := range cases {
		if got := Label(c.s) == ""; got != c.label {
			t.Errorf("Label(%.40q) accepted %v, want %v (%s)", c.s, got, c.label, Label(c.s))
		}
		if got := Description(c.s) == ""; got != c.desc {
			t.Errorf("Description(%.40q) accepted %v, want %v (%s)", c.s, got, c.desc, Description(c.s))
		}
	}
}

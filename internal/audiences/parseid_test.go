package audiences

import "testing"

// TestParseID: a profile id is the decimal form of a 32-bit number, as
// profiles writes it, and nothing else.
func TestParseID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]uint32{"0": 0, "7": 7, "4294967295": 4294967295} {
		if got, err := parseID(id); err != nil || got != want {
			t.Errorf("parseID(%q) = %d, %v; want %d", id, got, err, want)
		}
	}
	for _, id := range []string{"", "07", "00", "+7", "-1", " 7", "7 ", "1_0", "0x7", "4294967296", "a"} {
		if _, err := parseID(id); err == nil {
			t.Errorf("parseID(%q): no error", id)
		}
	}
}

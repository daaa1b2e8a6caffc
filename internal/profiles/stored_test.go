package profiles

import (
	"slices"
	"testing"
)

func TestStoredProfileRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ids := range [][]string{nil, {"email:a@x.io"}, {"email:a@x.io", "external_id:e 1", "braze_id:b"}} {
		data := `{"city":"1|sOslo\nx"}`
		v := encodeProfile(17, 42, ids, data)
		fs, ls, gotIDs, gotData, ok := decodeStored(v)
		if !ok || fs != 17 || ls != 42 || !slices.Equal(gotIDs, ids) || gotData != data {
			t.Errorf("%q decoded as %d %d %q %q %v", v, fs, ls, gotIDs, gotData, ok)
		}
	}
	for _, bad := range []string{"", "17 42", "1742\n\n{}", "17 42\nemail:a"} {
		if _, _, _, _, ok := decodeStored(bad); ok {
			t.Errorf("%q decoded", bad)
		}
	}
}

package profiles

import (
	"encoding/json"
	"testing"
)

func TestEncodeDataIsJSON(t *testing.T) {
	t.Parallel()
	kv := []string{
		"plain", "1|sAnn",
		"quote\"back\\slash", "1|s\"q\" \\ /",
		"controls", "1|s\n\r\t\x00\x1f",
		"unicode", "1|sÅsa 東京 🎉",
		"bad utf8", "1|s\xff\xfeok",
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(encodeData(kv)), &got); err != nil {
		t.Fatalf("encodeData is not JSON: %v: %s", err, encodeData(kv))
	}
	for i := 0; i < len(kv); i += 2 {
		want := kv[i+1]
		if kv[i] == "bad utf8" {
			want = "1|s\ufffd\ufffdok"
		}
		if got[kv[i]] != want {
			t.Errorf("%q = %q, want %q", kv[i], got[kv[i]], want)
		}
	}
	if encodeData(nil) != "{}" {
		t.Errorf("empty = %s", encodeData(nil))
	}
}

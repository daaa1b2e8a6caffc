package profiles

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

func TestStoredProfileRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ids := range [][]string{nil, {"email:a@x.io"}, {"email:a@x.io", "external_id:e 1", "braze_id:b"}} {
		for _, base := range []int64{0, 40} {
			data := `{"city":"1|sOslo\nx","n":"|n7"}`
			v := encodeProfile(17, 42, base, ids, data)
			sp, ok := decodeStored(v)
			if !ok || sp.fs != 17 || sp.ls != 42 || sp.base != base || !slices.Equal(sp.ids, ids) || sp.data != data {
				t.Errorf("%q decoded as %+v %v", v, sp, ok)
			}
		}
	}
	for _, bad := range []string{"", "17 42", "1742\n\n{}", "17 42\nemail:a"} {
		if _, ok := decodeStored(bad); ok {
			t.Errorf("%q decoded", bad)
		}
	}
}

// TestStoredDataLeavesOutTheBaseTime: values at the base time are stored
// without it, and read back with it; others keep theirs.
func TestStoredDataLeavesOutTheBaseTime(t *testing.T) {
	t.Parallel()
	m := map[string]string{"city": "40|sOslo", "n": "12|n7", "q": "40|s\"|\"\n", "e": "40|s"}
	raw := encodeStored(m, 40)
	if want := `{"city":"|sOslo","e":"|s","n":"12|n7","q":"|s\"|\"\n"}`; raw != want {
		t.Errorf("encodeStored = %s, want %s", raw, want)
	}
	if got := decodeData(raw, 40); !maps.Equal(got, m) {
		t.Errorf("decodeData = %q, want %q", got, m)
	}
	// Without a base every time is written out (the form of earlier
	// builds), and read as it is.
	if got := decodeData(encodeStored(m, 0), 0); !maps.Equal(got, m) {
		t.Errorf("without a base: %q, want %q", got, m)
	}
}

// TestDecodeDataAsEncodingJSON: the fast path gives the map
// encoding/json gives, and leaves to it every form it does not read.
func TestDecodeDataAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{}`, `[]`, ``, `{"a":"1|sx"}`, `{"a":"1|sx","b":"|n7"}`, `{"a":"|s\"q\"","b":"|sOk"}`,
		`{"a":"|s\u00e9"}`, `{"é":"|sété"}`, "{\"a\":\"|s\xff\"}", "{\"a\":\"|s\x01\"}",
		`{"a": "|sx"}`, `{"a":"|sx",}`, `{"a":"|sx","a":"|sy"}`, `{"a":"|sx"`, `{"a"}`, `{"a":"|sx"}x`,
	} {
		want := map[string]string{}
		if raw != "" && raw != "{}" && raw != "[]" {
			_ = json.Unmarshal([]byte(raw), &want)
		}
		if got, ok := decodeFlat(raw); ok && !maps.Equal(got, want) {
			t.Errorf("decodeFlat(%q) = %q, encoding/json %q", raw, got, want)
		}
		for k, v := range want {
			if strings.HasPrefix(v, "|") {
				want[k] = "7" + v // decodeData gives values without a time the base's
			}
		}
		if got := decodeData(raw, 7); !maps.Equal(got, want) {
			t.Errorf("decodeData(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestEarlierStoredFormIsUpdated: a profile stored by an earlier build
// (every time written out, no base) is read and updated right by Upsert
// and under the write turn, newest value per field.
func TestEarlierStoredFormIsUpdated(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	recs := []Record{
		{Fields: map[string]any{"email": "a@x.io", "city": "Rome"}, EventTime: time.UnixMilli(1500)},
		{Fields: map[string]any{"email": "a@x.io", "n": 9}, EventTime: time.UnixMilli(500)},
	}
	for _, inTurn := range []bool{false, true} {
		acct := "acct-" + redistest.RandomID()
		old := "1000 2000\nemail:a@x.io\n\n" + `{"city":"1000|sOslo","n":"2000|n7"}`
		if err := rdb.Set(ctx, s.keys.profile(acct, "1"), old, 0).Err(); err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, s.keys.index(acct, "email"), "a@x.io", "1")
		rdb.Set(ctx, s.keys.seq(acct), 1, 0)
		if inTurn {
			for _, b := range inBatches(t, s, recs, 1) {
				if _, err := s.writeInTurn(ctx, acct, b); err != nil {
					t.Fatal(err)
				}
			}
		} else if _, err := s.Upsert(ctx, acct, "web", recs); err != nil {
			t.Fatal(err)
		}
		p, err := s.Get(ctx, acct, "1")
		if err != nil {
			t.Fatal(err)
		}
		if p.Fields["city"] != "Rome" || !p.FieldTimes["city"].Equal(time.UnixMilli(1500)) ||
			p.Fields["n"] != 7.0 || !p.FieldTimes["n"].Equal(time.UnixMilli(2000)) ||
			!p.FirstSeen.Equal(time.UnixMilli(500)) || !p.LastSeen.Equal(time.UnixMilli(2000)) {
			t.Errorf("under the turn %v: profile %+v", inTurn, p)
		}
	}
}
